"""Adversarial inputs for the request rules (DESIGN section 3) and the consumer outcomes (section 4).

Tests marked ``xfail(strict=True)`` pin a real bug: they fail today and will start passing
(and so fail the suite, as a reminder to drop the mark) once the bug is fixed. The others
guard nasty cases that are handled correctly today.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from backtest_core.consumer import IncomingMessage, Outcome
from backtest_core.jobs import JobStatus
from backtest_core.request import (
    MAX_BODY_BYTES,
    MAX_STORED_ERRORS,
    BacktestRequest,
    FieldError,
    RequestRejected,
    derived_job_id,
    parse_request,
)
from local_stack.ecs_emulation import IdempotentEcsClient
from tests.factories import example_request
from tests.unit.conftest import AwsWorld


def parse(body: Any, message_id: str = "msg-1") -> BacktestRequest:
    return parse_request(body if isinstance(body, str | bytes) else json.dumps(body), message_id=message_id)


def rejection(body: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        parse(body)
    return caught.value


def errors_of(body: Any) -> dict[str, str]:
    return {e.field: e.rule for e in rejection(body).errors}


def message(body: dict[str, Any] | str, message_id: str = "m-1", attempt: int = 1) -> IncomingMessage:
    return IncomingMessage(message_id, body if isinstance(body, str) else json.dumps(body), attempt)


def padded_to(body: dict[str, Any], size: int) -> str:
    """``body`` as JSON followed by spaces, exactly ``size`` UTF-8 bytes long."""
    text = json.dumps(body)
    return text + " " * (size - len(text.encode()))


# --- bugs: request parsing ------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTC/USDT:USDT\n", "ETH/BTC\n"])
def test_symbol_with_a_trailing_newline_is_rejected(symbol: str) -> None:
    assert "config.symbols" in errors_of(example_request(symbols=[symbol]))


def test_invalid_job_id_with_trailing_newline_is_not_used_as_the_rejection_key() -> None:
    rejected = rejection(example_request(job_id="job-1\n"))
    assert "job_id" in {e.field for e in rejected.errors}
    assert rejected.job_id is None


@pytest.mark.parametrize(
    ("body", "field", "rule_fragment"),
    [
        ({**example_request(), "job_id": True}, "job_id", "must be a string"),
        (example_request(strategy=False), "config.strategy", "must be a string"),
        (example_request(timeframe=True), "config.timeframe", "must be a string"),
        (example_request(symbols=[True]), "config.symbols.0", "must be a string"),
        ({**example_request(), "experiment_name": True}, "experiment_name", "must be a string"),
        ({**example_request(), "submitted_at": True}, "submitted_at", "must be a string"),
        (example_request(stop_loss=True), "config.stop_loss", "unknown field"),
        ({**example_request(), "dry_run": False}, "dry_run", "unknown field"),
    ],
)
def test_boolean_in_a_non_numeric_field_gets_that_fields_rule(
    body: dict[str, Any], field: str, rule_fragment: str
) -> None:
    errors = errors_of(body)
    assert field in errors, errors
    assert rule_fragment in errors[field]


@pytest.mark.parametrize("submitted_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_submitted_at_outside_the_utc_range_is_rejected(submitted_at: str) -> None:
    errors = errors_of({**example_request(), "submitted_at": submitted_at})
    assert "submitted_at" in errors


def test_duplicate_keys_in_one_object_are_rejected() -> None:
    raw = '{"job_id": "j", "config": {"strategy": "S", "stoploss": 5, "stoploss": -0.05}}'
    assert errors_of(raw) == {"config.stoploss": "appears more than once in one object"}


def test_start_date_after_tomorrow_without_end_date_is_rejected() -> None:
    body = example_request(start_date="9999-01-01")
    del body["config"]["end_date"]
    assert "config.start_date" in errors_of(body)


def test_many_errors_are_capped_with_a_count_of_the_rest() -> None:
    raw = '{"config": {"strategy": "S", "symbols": [' + ",".join(["0"] * 4000) + "]}}"
    rejected = rejection(raw)
    assert len(rejected.errors) == MAX_STORED_ERRORS
    assert rejected.errors[0] == FieldError("config.symbols.0", "must be a string")
    assert rejected.errors[-1] == FieldError("body", f"... and {4000 - MAX_STORED_ERRORS + 1} more errors")


# --- handled correctly: request parsing -----------------------------------------------------


def test_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_rejected() -> None:
    assert parse(padded_to(example_request(), MAX_BODY_BYTES)).job_id == "job-1"
    too_big = rejection(padded_to(example_request(), MAX_BODY_BYTES + 1))
    assert [e.field for e in too_big.errors] == ["body"] and "65537 bytes" in too_big.errors[0].rule


@pytest.mark.parametrize(
    ("raw", "rule_fragment"),
    [
        (json.dumps("\ufeff" + json.dumps(example_request())), "not valid JSON"),  # BOM inside the wrapped string
        ("\ufeff\ufeff" + json.dumps(example_request()), "not valid JSON"),  # only one BOM is ignored
        (json.dumps(json.dumps(json.dumps(example_request()))), "got str"),  # a string wrapping a string
        (json.dumps(example_request()) + "\x00", "not valid JSON"),
        ('{"config": {"strategy": "S", "stoploss": nan}}', "not valid JSON"),  # only NaN/Infinity spellings
        ('{"config": {"strategy": "S", "stoploss": -NaN}}', "not valid JSON"),
        ('{"config": {"strategy": "S", "stoploss": inf}}', "not valid JSON"),
        ("\u00a0", "not valid JSON"),
        ("{" * 40_000, "not valid JSON"),
    ],
)
def test_more_bodies_that_are_not_requests(raw: str, rule_fragment: str) -> None:
    errors = rejection(raw).errors
    assert errors[0].field == "body"
    assert rule_fragment in errors[0].rule


def test_bom_before_a_double_encoded_body_is_ignored_and_unwrapped() -> None:
    assert parse("\ufeff" + json.dumps(json.dumps(example_request()))).job_id == "job-1"


@pytest.mark.parametrize(
    ("config", "field", "rule_fragment"),
    [
        ({"stoploss": float("nan")}, "config.stoploss", "finite"),
        ({"stoploss": "NaN"}, "config.stoploss", "must be a number"),
        ({"stoploss": "-Infinity"}, "config.stoploss", "must be a number"),
        ({"stoploss": -0.0}, "config.stoploss", "between -1 and 0"),
        ({"stoploss": -1e-400}, "config.stoploss", "between -1 and 0"),  # underflows to -0.0
        ({"stoploss": -1.0000000000000002}, "config.stoploss", "between -1 and 0"),
        ({"stake_amount": -0.0}, "config.stake_amount", "greater than 0"),
        ({"stake_amount": 1e-400}, "config.stake_amount", "greater than 0"),
        ({"stake_amount": float("-inf")}, "config.stake_amount", "finite"),
        ({"stake_amount": "1000"}, "config.stake_amount", "must be a number"),
        ({"stake_amount": [1000]}, "config.stake_amount", "must be a number"),
        ({"stake_amount": 10**400}, "config.stake_amount", ""),  # an integer beyond any float
        (
            {"start_date": "\uff12\uff10\uff12\uff14-\uff10\uff11-\uff10\uff11"},
            "config.start_date",
            "YYYY-MM-DD",
        ),  # fullwidth digits
        (
            {"start_date": "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661"},
            "config.start_date",
            "YYYY-MM-DD",
        ),  # Arabic-Indic digits
        ({"start_date": "2024-01-01\n"}, "config.start_date", "YYYY-MM-DD"),
        ({"start_date": "2023-02-29"}, "config.start_date", "real calendar day"),
        ({"start_date": "0000-01-01"}, "config.start_date", "real calendar day"),
        ({"start_date": "+2024-01-01"}, "config.start_date", "YYYY-MM-DD"),
        ({"start_date": "2024-01-01T00:00:00Z"}, "config.start_date", "YYYY-MM-DD"),
        ({"start_date": 20240101}, "config.start_date", "must be a string"),
        ({"end_date": "9999-12-31"}, "config.end_date", "after tomorrow"),
        ({"strategy": "S\n"}, "config.strategy", "must match"),
        ({"strategy": "S\x00"}, "config.strategy", "must match"),
        ({"strategy": "\uff33\uff54\uff52\uff41\uff54"}, "config.strategy", "must match"),
        ({"strategy": "Strat\u202e"}, "config.strategy", "must match"),
        ({"strategy": "../../etc/passwd"}, "config.strategy", "must match"),
        ({"strategy": None}, "config.strategy", "must be a string"),
        ({"timeframe": "1h\n"}, "config.timeframe", "must be one of"),
        ({"timeframe": "\uff11H"}, "config.timeframe", "must be one of"),
        ({"timeframe": ""}, "config.timeframe", "must be one of"),
        ({"symbols": ["\U0001f600/USDT"]}, "config.symbols", "upper-case"),
        ({"symbols": ["\uff22\uff34\uff23/\uff35\uff33\uff24\uff34"]}, "config.symbols", "upper-case"),
        ({"symbols": ["BTC/USDT:"]}, "config.symbols", "BASE/QUOTE"),
        ({"symbols": ["BTC/USDT:USDT:USDT"]}, "config.symbols", "BASE/QUOTE"),
        ({"symbols": None}, "config.symbols", "must be a list"),
        ({"symbols": {"BTC/USDT": 1}}, "config.symbols", "must be a list"),
        ({"symbols": ["A/B"] * 2}, "config.symbols", "unique"),
        (
            {"\uff53\uff54\uff4f\uff50\uff4c\uff4f\uff53\uff53": -0.05},
            "config.\uff53\uff54\uff4f\uff50\uff4c\uff4f\uff53\uff53",
            "unknown field",
        ),  # NFKC-equal to a real key
        ({"stoplos\u0073\u0307": -0.05}, "config.stoplos\u0073\u0307", "unknown field"),  # combining dot
    ],
)
def test_nasty_config_values(config: dict[str, Any], field: str, rule_fragment: str) -> None:
    errors = errors_of(example_request(**config))
    assert field in errors, errors
    assert rule_fragment in errors[field]


def test_odd_symbol_types_are_each_named() -> None:
    errors = errors_of(example_request(symbols=[1, None, {}, [], 2.5, True]))
    assert {f"config.symbols.{i}" for i in range(5)} <= set(errors)
    assert all(rule == "must be a string" for field, rule in errors.items() if field != "config.symbols.5")


@pytest.mark.parametrize(
    ("envelope", "field", "rule_fragment"),
    [
        ({"job_id": "#concurrency-slots"}, "job_id", "must match"),  # the slot record's key
        ({"job_id": "a" * 64 + "b"}, "job_id", "must match"),
        ({"job_id": "job\x001"}, "job_id", "must match"),
        ({"job_id": "\uff4a\uff4f\uff42\uff11"}, "job_id", "must match"),
        ({"job_id": "job-1\u202e"}, "job_id", "must match"),
        ({"job_id": ""}, "job_id", "must match"),
        ({"job_id": None}, "", ""),  # null means absent: derived from the message id
        ({"priority": 2**64 + 1}, "priority", "0 to 9"),
        ({"priority": -(2**70)}, "priority", "0 to 9"),
        ({"priority": 1.0}, "priority", "whole number"),
        ({"priority": "1"}, "priority", "whole number"),
        ({"priority": float("nan")}, "priority", "whole number"),
        ({"experiment_name": "a" * 128 + "\u00e9"}, "experiment_name", "must match"),
        ({"experiment_name": "x/y"}, "experiment_name", "must match"),
        ({"submitted_at": "2024-01-01T00:00:00+24:00"}, "submitted_at", "ISO-8601"),
        ({"submitted_at": "\uff12\uff10\uff12\uff14-01-01T00:00:00Z"}, "submitted_at", "ISO-8601"),
        ({"submitted_at": "2024-01-01"}, "submitted_at", "time zone"),
        ({"submitted_at": "2024-01-01T23:59:60Z"}, "submitted_at", "ISO-8601"),
        ({"submitted_at": 1704067200}, "submitted_at", "must be a string"),
    ],
)
def test_nasty_envelope_values(envelope: dict[str, Any], field: str, rule_fragment: str) -> None:
    body = {**example_request(), **envelope}
    if not field:
        assert parse(body, message_id="m-x").job_id == derived_job_id("m-x")
        return
    errors = errors_of(body)
    assert field in errors, errors
    assert rule_fragment in errors[field]


@pytest.mark.parametrize(
    ("submitted_at", "utc"),
    [
        ("2024-01-01T00:00:00+14:00", datetime(2023, 12, 31, 10, tzinfo=UTC)),
        ("2024-01-01T00:00:00-12:00", datetime(2024, 1, 1, 12, tzinfo=UTC)),
        ("2024-01-01T00:00:00-00:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-02-29T12:00:00Z", datetime(2024, 2, 29, 12, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_submitted_at_offsets_are_stored_as_utc(submitted_at: str, utc: datetime) -> None:
    request = parse({**example_request(), "submitted_at": submitted_at})
    assert request.submitted_at == utc
    assert request.to_record()["submitted_at"].endswith("Z")


@pytest.mark.parametrize(
    ("start", "end"),
    [("2024-02-29", "2024-03-01"), ("0001-01-01", "0001-01-02"), ("2023-12-31", "2024-01-01")],
)
def test_edge_days_are_accepted(start: str, end: str) -> None:
    request = parse(example_request(start_date=start, end_date=end))
    assert (request.start_date, request.end_date) == (date.fromisoformat(start), date.fromisoformat(end))


def test_reversed_dates_name_end_date_and_bad_start_does_not_confuse_the_order_check() -> None:
    today = datetime.now(UTC).date().isoformat()
    assert "after start_date" in errors_of(example_request(start_date=today, end_date=today))["config.end_date"]
    errors = errors_of(example_request(start_date="2024-13-01", end_date="2024-01-01"))
    assert set(errors) == {"config.start_date"}


def test_large_finite_numbers_parse_without_error() -> None:
    assert parse(example_request(stake_amount=2**64 + 1)).stake_amount == float(2**64 + 1)
    assert parse(example_request(stoploss=-0.9999999999999999)).stoploss == -0.9999999999999999


@pytest.mark.parametrize(
    "raw",
    [
        '{"config": {"strategy": "\\ud800"}}',
        '{"config": {"strategy": "S"}, "job_id": "\\udfff"}',
        '{"config": {"strategy": "S", "\\ud800": 1}}',
        '{"config": {"strategy": "S"}, "\\ud800": 1}',
        '{"config": {"strategy": "S", "symbols": ["\\ud800/USDT"]}}',
    ],
)
def test_lone_surrogates_are_a_rejection_not_a_crash(raw: str) -> None:
    assert rejection(raw).errors


def test_deep_nesting_inside_a_field_is_rejected_by_field() -> None:
    depth = 900  # parses (json's limit is ~1000), then must not trip anything downstream
    errors = errors_of('{"config": {"strategy": "S", "symbols": ' + "[" * depth + "]" * depth + "}}")
    assert set(errors) == {"config.symbols.0"}


def test_rejection_message_for_a_huge_bad_symbol_stays_bounded() -> None:
    symbols = [f"bad{i}-" + "x" * 5000 for i in range(10)]
    rule = errors_of(example_request(symbols=symbols))["config.symbols"]
    assert len(rule) < 6 * 5100  # at most five symbols are quoted


# --- bugs: the consumer over moto -----------------------------------------------------------


def test_numbers_dynamodb_cannot_store_are_rejected_not_crashed(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    for index, config in enumerate([{"stake_amount": 1e308}, {"stake_amount": 5e-324}, {"stoploss": -1e-300}]):
        job_id = f"job-{index}"
        result = consumer.consume(message(example_request(job_id=job_id, **config), message_id=f"m-{index}"))
        assert result.outcome is Outcome.REJECTED, config
        assert aws.jobs.get(job_id)["status"] == JobStatus.REJECTED  # type: ignore[index]
    assert aws.tasks() == []


def test_rejection_with_thousands_of_errors_is_still_recorded(aws: AwsWorld) -> None:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    keys = [a + b + c for a in alphabet[:10] for b in alphabet for c in alphabet[:9]]  # 5580 keys
    body = json.dumps({"job_id": "many", "config": {"strategy": "S", **dict.fromkeys(keys, 0)}})
    assert len(body.encode()) < MAX_BODY_BYTES

    result = aws.consumer().consume(message(body))

    assert result.outcome is Outcome.REJECTED
    job = aws.jobs.get("many")
    assert job is not None and job["status"] == JobStatus.REJECTED


def test_rejection_is_recorded_even_when_the_fallback_id_is_taken(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    taken = derived_job_id("m-evil")
    assert consumer.consume(message(example_request(job_id=taken), message_id="m-1")).outcome is Outcome.LAUNCHED

    result = consumer.consume(message(example_request(job_id=None, stoploss=7), message_id="m-evil"))

    assert result.outcome is Outcome.REJECTED
    assert aws.jobs.get(taken)["status"] == JobStatus.LAUNCHED  # type: ignore[index]
    recorded = aws.jobs.get(result.job_id)
    assert recorded is not None and recorded["status"] == JobStatus.REJECTED
    assert recorded["message_id"] == "m-evil"


class TwinDeliveryDuringRunTask:
    """Delivers a twin of the message while the first delivery is inside RunTask."""

    def __init__(self, ecs: Any) -> None:
        self._ecs = ecs
        self.twin: Any = None
        self.calls = 0

    def run_task(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1 and self.twin:
            self.twin()
        return self._ecs.run_task(**params)


def test_twin_deliveries_racing_past_the_claim_report_one_launch(aws: AwsWorld) -> None:
    ecs = TwinDeliveryDuringRunTask(IdempotentEcsClient(aws.ecs))
    consumer = aws.consumer(ecs=ecs)
    outcomes: list[Outcome] = []
    ecs.twin = lambda: outcomes.append(consumer.consume(message(example_request(), message_id="m-2")).outcome)

    outcomes.append(consumer.consume(message(example_request(), message_id="m-1")).outcome)

    assert len(aws.tasks()) == 1  # the clientToken holds: exactly one task
    assert sorted(outcomes) == [Outcome.DUPLICATE, Outcome.LAUNCHED]


# --- handled correctly: the consumer over moto ----------------------------------------------


NASTY_BODIES = [
    "",
    "   ",
    "null",
    "[]",
    '"\\u0000"',
    "\ufeff",
    '{"config": {"strategy": "S", "stoploss": NaN}}',
    '{"config": {"strategy": "S", "symbols": ' + "[" * 900 + "]" * 900 + "}}",
    '{"job_id": "#concurrency-slots", "config": {"strategy": "S"}}',
    '{"job_id": "j\\u0000", "config": {"strategy": "\\ud800"}}',
    '{"config": {"strategy": "S", "stoploss": 1e308, "stake_amount": -1e308}}',
    padded_to(example_request(job_id="huge"), MAX_BODY_BYTES + 1),
    "\U0001f600" * 2000,
]


def test_nasty_bodies_are_recorded_rejections(aws: AwsWorld) -> None:
    consumer = aws.consumer()  # one moto world for all: its setup dominates the run time
    for index, body in enumerate(NASTY_BODIES):
        message_id = f"m-nasty-{index}"
        result = consumer.consume(message(body, message_id=message_id))

        assert result.outcome is Outcome.REJECTED, body[:80]
        job = aws.jobs.get(result.job_id)
        assert job is not None and job["status"] == JobStatus.REJECTED and job["message_id"] == message_id
        assert job["errors"] and all(e["field"] and e["rule"] for e in job["errors"]), job["errors"]
        assert len(job["body_excerpt"]) <= 1024 and body.startswith(job["body_excerpt"])
    assert aws.tasks() == [] and aws.jobs.slot_holders() == set()
    assert aws.jobs.get("#concurrency-slots") is None


def test_redelivered_invalid_message_rewrites_its_own_rejection(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    first = consumer.consume(message(example_request(stoploss=3), message_id="m-bad"))
    again = consumer.consume(message(example_request(stoploss=3), message_id="m-bad"))
    assert first.job_id == again.job_id == "job-1"
    assert aws.jobs.get("job-1")["status"] == JobStatus.REJECTED  # type: ignore[index]


def test_a_64_character_job_id_launches_with_it_as_the_client_token(aws: AwsWorld) -> None:
    job_id = "J" + "a" * 62 + "9"
    result = aws.consumer().consume(message(example_request(job_id=job_id)))
    assert result.outcome is Outcome.LAUNCHED
    assert aws.jobs.get(job_id)["status"] == JobStatus.LAUNCHED  # type: ignore[index]


def test_extreme_but_storable_numbers_round_trip_through_the_job_table(aws: AwsWorld) -> None:
    body = example_request(stake_amount=2**64 + 1, stoploss=-0.9999999999999999)
    assert aws.consumer().consume(message(body)).outcome is Outcome.LAUNCHED
    stored = aws.jobs.get("job-1")["request"]  # type: ignore[index]
    assert float(stored["stake_amount"]) == float(2**64 + 1)
    assert float(stored["stoploss"]) == -0.9999999999999999
