"""Every request rule of DESIGN section 3, each with a value that breaks it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from backtest_core.request import (
    MAX_BODY_BYTES,
    BacktestRequest,
    RequestRejected,
    derived_job_id,
    parse_request,
)
from tests.factories import example_request


def parse(body: Any, message_id: str = "msg-1") -> BacktestRequest:
    return parse_request(body if isinstance(body, str | bytes) else json.dumps(body), message_id=message_id)


def errors_of(body: Any) -> dict[str, str]:
    with pytest.raises(RequestRejected) as caught:
        parse(body)
    return {e.field: e.rule for e in caught.value.errors}


def test_seed_example_normalizes() -> None:
    request = parse(example_request())
    assert request.job_id == "job-1"
    assert request.strategy == "TrendFollowingStrategy"
    assert request.timeframe == "1h"
    assert (request.start_date, request.end_date) == (date(2024, 1, 1), date(2024, 3, 1))
    assert request.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert request.trading_mode == "futures"
    assert request.stoploss == -0.05
    assert request.stake_amount == 1000.0
    assert request.submitted_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_flat_form_normalizes_to_the_same_model() -> None:
    nested = parse(example_request())
    flat_body = {**example_request()["config"], "job_id": "job-1", "experiment_name": "seed-example"}
    flat_body["strategy_name"] = flat_body.pop("strategy")
    flat_body["submitted_at"] = "2024-01-01T01:00:00+01:00"  # the same instant, another zone
    assert parse(flat_body) == nested


def test_defaults() -> None:
    request = parse({"strategy_name": "S"}, message_id="abc")
    assert request.job_id == derived_job_id("abc")
    assert (request.timeframe, request.symbols, request.stake_amount, request.priority) == (
        "1h",
        ("BTC/USDT:USDT",),
        1000.0,
        0,
    )
    assert request.start_date is request.end_date is request.stoploss is None


def test_derived_job_id_is_stable_per_message_and_valid() -> None:
    assert derived_job_id("m1") == derived_job_id("m1") != derived_job_id("m2")
    assert parse({"strategy_name": "S", "job_id": derived_job_id("m1")}).job_id == derived_job_id("m1")


@pytest.mark.parametrize(
    ("given", "normalized"), [("1H", "1h"), ("4H", "4h"), ("1D", "1d"), ("1W", "1w"), ("1M", "1M")]
)
def test_unambiguous_timeframe_spellings(given: str, normalized: str) -> None:
    assert parse(example_request(timeframe=given)).timeframe == normalized


def test_spot_pairs_mean_spot_mode() -> None:
    assert parse(example_request(symbols=["ETH/BTC", "LTC/BTC"])).trading_mode == "spot"


def test_integer_numbers_are_real_numbers() -> None:
    assert parse(example_request(stake_amount=500)).stake_amount == 500.0


@pytest.mark.parametrize(
    ("config", "field", "rule_fragment"),
    [
        ({"strategy": "bad-name"}, "config.strategy", "must match"),
        ({"strategy": "1Strategy"}, "config.strategy", "must match"),
        ({"strategy": "a" * 101}, "config.strategy", "must match"),
        ({"strategy": "x; rm -rf /"}, "config.strategy", "must match"),
        ({"timeframe": "7m"}, "config.timeframe", "must be one of 1m, 3m"),
        ({"timeframe": "1h "}, "config.timeframe", "must be one of"),
        ({"timeframe": "5M"}, "config.timeframe", "must be one of"),  # not a month, not minutes
        ({"timeframe": 60}, "config.timeframe", "must be a string"),
        ({"start_date": "2024/01/01"}, "config.start_date", "YYYY-MM-DD"),
        ({"start_date": "2024-02-30"}, "config.start_date", "real calendar day"),
        ({"start_date": "2024-03-01", "end_date": "2024-01-01"}, "config.end_date", "after start_date"),
        ({"start_date": "2024-03-01", "end_date": "2024-03-01"}, "config.end_date", "after start_date"),
        ({"symbols": []}, "config.symbols", "1 to 50"),
        ({"symbols": [f"C{i}/USDT" for i in range(51)]}, "config.symbols", "1 to 50"),
        ({"symbols": ["btc/usdt"]}, "config.symbols", "upper-case"),
        ({"symbols": ["BTCUSDT"]}, "config.symbols", "BASE/QUOTE"),
        ({"symbols": ["ETH/BTC", "ETH/BTC"]}, "config.symbols", "unique"),
        ({"symbols": ["ETH/BTC", "BTC/USDT:USDT"]}, "config.symbols", "not mixed"),
        ({"symbols": "BTC/USDT"}, "config.symbols", "must be a list"),
        ({"stoploss": 0.05}, "config.stoploss", "between -1 and 0"),
        ({"stoploss": -1}, "config.stoploss", "between -1 and 0"),
        ({"stoploss": 0}, "config.stoploss", "between -1 and 0"),
        ({"stoploss": True}, "config.stoploss", "not true/false"),
        ({"stoploss": "-0.05"}, "config.stoploss", "must be a number"),
        ({"stake_amount": 0}, "config.stake_amount", "greater than 0"),
        ({"stake_amount": -5}, "config.stake_amount", "greater than 0"),
        ({"stake_amount": False}, "config.stake_amount", "not true/false"),
        ({"stop_loss": -0.05}, "config.stop_loss", "unknown field"),
        ({"strategy_name": "S"}, "config.strategy_name", "unknown field"),
    ],
)
def test_each_config_rule(config: dict[str, Any], field: str, rule_fragment: str) -> None:
    errors = errors_of(example_request(**config))
    assert field in errors, errors
    assert rule_fragment in errors[field]


def test_end_date_may_be_tomorrow_but_not_later() -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert parse(example_request(end_date=tomorrow.isoformat())).end_date == tomorrow
    later = (tomorrow + timedelta(days=1)).isoformat()
    assert "not be after tomorrow" in errors_of(example_request(end_date=later))["config.end_date"]


@pytest.mark.parametrize(
    ("envelope", "field", "rule_fragment"),
    [
        ({"job_id": "-starts-with-dash"}, "job_id", "must match"),
        ({"job_id": "a" * 65}, "job_id", "must match"),
        ({"job_id": "has/slash"}, "job_id", "must match"),
        ({"job_id": 42}, "job_id", "must be a string"),
        ({"priority": 10}, "priority", "0 to 9"),
        ({"priority": -1}, "priority", "0 to 9"),
        ({"priority": 1.5}, "priority", "whole number"),
        ({"priority": True}, "priority", "not true/false"),
        ({"experiment_name": "a" * 129}, "experiment_name", "must match"),
        ({"experiment_name": "semi;colon"}, "experiment_name", "must match"),
        ({"submitted_at": "2024-01-01T00:00:00"}, "submitted_at", "time zone"),
        ({"submitted_at": "yesterday"}, "submitted_at", "ISO-8601"),
        ({"submitted": "2024-01-01T00:00:00Z"}, "submitted", "unknown field"),
    ],
)
def test_each_envelope_rule(envelope: dict[str, Any], field: str, rule_fragment: str) -> None:
    errors = errors_of({**example_request(), **envelope})
    assert field in errors, errors
    assert rule_fragment in errors[field]


def test_every_error_is_reported_at_once() -> None:
    errors = errors_of({"job_id": "ok", "priority": 99, "config": {"strategy": "S", "stoploss": 2, "stop_loss": 1}})
    assert set(errors) == {"priority", "config.stoploss", "config.stop_loss"}


def test_flat_form_fields_are_named_as_sent() -> None:
    errors = errors_of({"strategy_name": "S", "stoploss": 3, "timeframe": "2x"})
    assert set(errors) == {"stoploss", "timeframe"}


@pytest.mark.parametrize(
    ("raw", "rule_fragment"),
    [
        ('{"config": {"strategy": "S", "stoploss": NaN}}', "finite"),
        ('{"config": {"strategy": "S", "stoploss": -Infinity}}', "finite"),
        ('{"config": {"strategy": "S", "stake_amount": Infinity}}', "finite"),
        ('{"config": {"strategy": "S", "stake_amount": 1e999}}', "finite"),
    ],
)
def test_nan_and_infinities_are_rejected_by_field(raw: str, rule_fragment: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        parse(raw)
    assert caught.value.errors[0].field.startswith("config.")
    assert rule_fragment in caught.value.errors[0].rule


@pytest.mark.parametrize(
    ("raw", "rule_fragment"),
    [
        ("[]", "must be a JSON object, got list"),
        ("null", "got null"),
        ("42", "got int"),
        ('"just text"', "not valid JSON"),
        ("not json at all", "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "limit is 65536"),
        ('{"config": {"strategy": "S"}, "strategy_name": "S"}', "use one"),
        ('{"job_id": "x"}', "needs 'config'"),
        ('"[1, 2]"', "got list"),
        ('"\\"{}\\""', "got str"),  # unwrapped once only
    ],
)
def test_bodies_that_are_not_requests(raw: str | bytes, rule_fragment: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        parse(raw)
    assert caught.value.errors[0].field == "body"
    assert rule_fragment in caught.value.errors[0].rule


def test_deep_nesting_within_the_size_limit_is_a_clear_rejection() -> None:
    with pytest.raises(RequestRejected) as caught:
        parse("[" * 30_000 + "]" * 30_000)
    assert caught.value.errors[0].field == "body"


def test_double_encoded_body_is_unwrapped_once() -> None:
    assert parse(json.dumps(json.dumps(example_request()))).job_id == "job-1"


def test_leading_bom_is_ignored() -> None:
    assert parse("\ufeff" + json.dumps(example_request())).job_id == "job-1"
    assert parse(b"\xef\xbb\xbf" + json.dumps(example_request()).encode()).job_id == "job-1"


def test_size_limit_counts_bytes_not_characters() -> None:
    padding = "é" * (MAX_BODY_BYTES // 2)  # fewer characters than the limit, more bytes
    with pytest.raises(RequestRejected, match="64 KiB"):
        parse({**example_request(), "experiment_name": padding})


def test_rejection_keeps_a_valid_stated_job_id() -> None:
    with pytest.raises(RequestRejected) as caught:
        parse(example_request(job_id="mine", stoploss=5))
    assert caught.value.job_id == "mine"


def test_record_form_uses_decimal_and_round_trips() -> None:
    request = parse(example_request())
    record = request.to_record()
    assert record["stoploss"] == Decimal("-0.05") and record["stake_amount"] == Decimal("1000.0")
    assert not any(isinstance(v, float) for v in record.values())
    assert BacktestRequest.model_validate(record) == request
    assert parse(request.to_message()) == request
