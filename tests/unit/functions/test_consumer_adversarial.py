"""Adversarial batches for the backtest-consumer Lambda (DESIGN section 4).

``xfail(strict=True)`` marks a real bug (the test fails today); the other tests guard nasty
batches that are handled correctly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import backtest_consumer.handler as handler
from backtest_core.consumer import Consumer
from backtest_core.request import MAX_BODY_BYTES, derived_job_id
from tests.factories import example_request, sqs_event
from tests.unit.conftest import AwsWorld


class LambdaContext:
    function_name = "backtest-consumer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:backtest-consumer"
    aws_request_id = "request-1"


def invoke(event: Any) -> dict[str, Any]:
    return handler.lambda_handler(event, LambdaContext())


def use(monkeypatch: pytest.MonkeyPatch, consumer: Any) -> None:
    monkeypatch.setattr(handler, "consumer", lambda: consumer)


def metric_counts(output: str) -> dict[tuple[str, str | None], float]:
    """(metric name, Reason dimension) -> total, over every EMF blob printed."""
    counts: dict[tuple[str, str | None], float] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                key = (metric["Name"], blob.get("Reason"))
                counts[key] = counts.get(key, 0) + (sum(values) if isinstance(values, list) else values)
    return counts


def failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


class NeverCalled:
    def consume(self, message: Any) -> Any:
        raise AssertionError("no record should reach the consumer")


# --- bugs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("event", [None, [], {"Records": None}], ids=["None", "list", "Records-null"])
def test_handler_never_raises_even_on_a_non_dict_event(monkeypatch: pytest.MonkeyPatch, event: Any) -> None:
    use(monkeypatch, NeverCalled())
    assert invoke(event) == {"batchItemFailures": []}


@pytest.mark.parametrize("attempt", ["1.5", "abc", "0", "-3", "99999999999999999999"])
def test_a_malformed_attempt_attribute_reads_as_a_first_attempt(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch, attempt: str
) -> None:
    use(monkeypatch, aws.consumer())
    event = sqs_event(json.dumps(example_request()), message_ids=["m-att"])
    event["Records"][0]["messageAttributes"] = {"attempt": {"stringValue": attempt, "dataType": "Number"}}

    assert invoke(event) == {"batchItemFailures": []}
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == "LAUNCHED" and job["attempts"] == 1


# --- handled correctly ----------------------------------------------------------------------


def test_a_batch_where_every_record_is_invalid_succeeds_and_records_every_rejection(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, aws.serialized().consumer())
    bodies = [
        "",
        "null",
        '"\\u0000"',
        "[" * 900 + "]" * 900,
        '{"config": {"strategy": "S", "stoploss": NaN}}',
        json.dumps(example_request(job_id="bad-1", stoploss=True)),
        json.dumps({**example_request(job_id="bad-2"), "priority": 2**70}),
        json.dumps(example_request(job_id="bad-3", symbols=["BTC/USDT", "BTC/USDT:USDT"])),
        json.dumps(example_request(job_id="bad-4", start_date="2024-02-30")),
        "x" * (MAX_BODY_BYTES + 1),
    ]
    ids = [f"m-{i}" for i in range(len(bodies))]

    response = invoke(sqs_event(*bodies, message_ids=ids))

    assert response == {"batchItemFailures": []}
    counts = metric_counts(capsys.readouterr().out)
    assert counts[("BacktestRequestsReceived", None)] == len(bodies)
    assert counts[("BacktestRequestsFailed", "InvalidConfig")] == len(bodies)
    assert ("BacktestTasksLaunched", None) not in counts
    assert {aws.jobs.get(f"bad-{i}")["status"] for i in range(1, 5)} == {"REJECTED"}  # type: ignore[index]
    assert aws.tasks() == []


def test_bodies_of_exactly_64_kib_and_one_byte_more_in_one_batch(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, aws.serialized().consumer())

    def padded(body: dict[str, Any], size: int) -> str:
        text = json.dumps(body)
        return text + " " * (size - len(text.encode()))

    fits, too_big = padded(example_request(job_id="fits"), MAX_BODY_BYTES), padded(example_request(job_id="big"), 65537)

    response = invoke(sqs_event(fits, too_big, message_ids=["m-fits", "m-big"]))

    assert response == {"batchItemFailures": []}
    assert aws.jobs.get("fits")["status"] == "LAUNCHED"  # type: ignore[index]
    rejected = aws.jobs.get(derived_job_id("m-big"))  # the body was never parsed: filed by message id
    assert rejected is not None and rejected["status"] == "REJECTED" and len(rejected["body_excerpt"]) == 1024
    assert len(aws.tasks()) == 1


def test_one_job_in_every_record_of_a_batch_starts_one_task(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, aws.serialized().consumer())
    bodies = [json.dumps(example_request(job_id="same"))] * 10

    response = invoke(sqs_event(*bodies, message_ids=[f"m-{i}" for i in range(10)]))

    assert response == {"batchItemFailures": []}
    assert len(aws.tasks()) == 1
    assert aws.jobs.slot_holders() == {"same"}


class CrashWith:
    """Raises a given exception for one message id; the others go to the real consumer."""

    def __init__(self, consumer: Consumer, message_id: str, error: BaseException) -> None:
        self._consumer, self._message_id, self._error = consumer, message_id, error

    def consume(self, message: Any) -> Any:
        if message.message_id == self._message_id:
            raise self._error
        return self._consumer.consume(message)


@pytest.mark.parametrize(
    "error",
    [RecursionError("deep"), ArithmeticError("decimal.Overflow"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "x")],
    ids=["RecursionError", "ArithmeticError", "UnicodeEncodeError"],
)
def test_any_exception_from_one_record_fails_only_that_record(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: BaseException
) -> None:
    use(monkeypatch, CrashWith(aws.serialized().consumer(), "m-1", error))
    bodies = [json.dumps(example_request(job_id=f"job-{i}")) for i in range(3)]

    response = invoke(sqs_event(*bodies, message_ids=["m-0", "m-1", "m-2"]))

    assert failed_ids(response) == ["m-1"]
    assert metric_counts(capsys.readouterr().out)[("BacktestRequestsFailed", "Internal")] == 1
    assert len(aws.tasks()) == 2
