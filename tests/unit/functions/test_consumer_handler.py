"""backtest-consumer's Lambda contract: partial batch failures, metrics in EMF, never raising."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import backtest_consumer.handler as handler
from backtest_core.consumer import Consumer
from backtest_core.jobs import JobStatus
from backtest_core.settings import ConsumerSettings, SettingsError
from tests.factories import example_request, sqs_event
from tests.unit.conftest import AwsWorld


class LambdaContext:
    function_name = "backtest-consumer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:backtest-consumer"
    aws_request_id = "request-1"


@pytest.fixture
def use_consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(consumer: Consumer) -> None:
        monkeypatch.setattr(handler, "consumer", lambda: consumer)

    yield use


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(event, LambdaContext())


def emf_metrics(output: str) -> list[tuple[str, dict[str, str], float]]:
    """(metric name, dimensions, value) for every EMF blob printed."""
    found = []
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dimension_names = {name for group in directive["Dimensions"] for name in group}
            dimensions = {name: blob[name] for name in dimension_names}
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                found.append((metric["Name"], dimensions, sum(values) if isinstance(values, list) else values))
    return found


def test_wired_from_settings_it_launches_the_seed_example(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "settings", aws.consumer_settings())
    handler.consumer.cache_clear()
    try:
        response = invoke(sqs_event(json.dumps(example_request())))
    finally:
        handler.consumer.cache_clear()
    assert response == {"batchItemFailures": []}
    assert aws.jobs.get("job-1")["status"] == "LAUNCHED"  # type: ignore[index]


def test_the_attempt_attribute_of_a_requeued_message_reaches_the_launch(aws: AwsWorld, use_consumer: Any) -> None:
    use_consumer(aws.consumer())
    invoke(sqs_event(json.dumps(example_request())))
    aws.jobs.transition("job-1", JobStatus.INTERRUPTED)  # as the task-events handler leaves it

    assert invoke(sqs_event(json.dumps(example_request()), attempt=2)) == {"batchItemFailures": []}

    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == "LAUNCHED" and job["attempts"] == 2
    assert len(aws.tasks()) == 2


def test_all_succeed_gives_an_empty_failure_list(aws: AwsWorld, use_consumer: Any) -> None:
    use_consumer(aws.serialized().consumer())
    bodies = [json.dumps(example_request(job_id=f"job-{i}")) for i in range(10)]
    assert invoke(sqs_event(*bodies)) == {"batchItemFailures": []}
    assert len(aws.tasks()) == 10


class NoCapacity:
    def run_task(self, **params: Any) -> dict[str, Any]:
        return {"tasks": [], "failures": [{"reason": "Capacity is unavailable at this time"}]}


def test_all_fail_returns_every_message_id_and_does_not_raise(
    aws: AwsWorld, use_consumer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    use_consumer(aws.serialized().consumer(ecs=NoCapacity()))
    ids = [f"m-{i}" for i in range(4)]
    bodies = [json.dumps(example_request(job_id=f"job-{i}")) for i in range(4)]

    response = invoke(sqs_event(*bodies, message_ids=ids))

    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ids
    failed = [m for m in emf_metrics(capsys.readouterr().out) if m[0] == "BacktestRequestsFailed"]
    assert [(m[1]["Reason"], m[2]) for m in failed] == [("ECSLaunchError", 1)] * 4


class CrashOn:
    """Wraps a consumer; raises an unexpected error for one message."""

    def __init__(self, consumer: Consumer, message_id: str) -> None:
        self._consumer, self._message_id = consumer, message_id

    def consume(self, message: Any) -> Any:
        if message.message_id == self._message_id:
            raise RuntimeError("boom")
        return self._consumer.consume(message)


def test_a_crash_in_the_middle_of_a_batch_fails_only_that_record(
    aws: AwsWorld, use_consumer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    use_consumer(CrashOn(aws.serialized().consumer(), "m-2"))
    ids = [f"m-{i}" for i in range(5)]
    bodies = [json.dumps(example_request(job_id=f"job-{i}")) for i in range(5)]

    response = invoke(sqs_event(*bodies, message_ids=ids))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert len(aws.tasks()) == 4
    metrics = emf_metrics(capsys.readouterr().out)
    assert ("BacktestRequestsFailed", {"Environment": "dev", "Reason": "Internal"}, 1) in metrics
    assert ("BacktestRequestsReceived", {"Environment": "dev"}, 5) in metrics
    assert ("BacktestTasksLaunched", {"Environment": "dev"}, 4) in metrics


def test_mixed_batch_metrics_and_no_job_id_dimension(
    aws: AwsWorld, use_consumer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    use_consumer(aws.serialized().consumer(cap=2))
    bodies = [
        json.dumps(example_request(job_id="a")),
        json.dumps(example_request(job_id="a")),  # duplicate
        json.dumps(example_request(job_id="bad", stoploss=4)),  # invalid
        json.dumps(example_request(job_id="b")),
        json.dumps(example_request(job_id="c")),  # over the cap of 2
    ]
    # One record at a time, so which one meets the cap is deterministic.
    for body in bodies:
        assert invoke(sqs_event(body)) == {"batchItemFailures": []}

    metrics = emf_metrics(capsys.readouterr().out)
    counts: dict[tuple[str, str | None], float] = {}
    for name, dimensions, value in metrics:
        assert "job_id" not in dimensions and set(dimensions) <= {"Environment", "Reason"}
        key = (name, dimensions.get("Reason"))
        counts[key] = counts.get(key, 0) + value
    assert counts == {
        ("BacktestRequestsReceived", None): 5,
        ("BacktestTasksLaunched", None): 2,
        ("BacktestDuplicateRequests", None): 1,
        ("BacktestRequestsFailed", "InvalidConfig"): 1,
        ("BacktestRequestsDeferred", None): 1,
    }
    assert aws.jobs.get("bad")["status"] == "REJECTED"  # type: ignore[index]
    assert aws.jobs.get("c")["status"] == "DEFERRED"  # type: ignore[index]


def test_logs_are_json_with_job_id_and_message_id(
    aws: AwsWorld, use_consumer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    use_consumer(aws.consumer())
    invoke(sqs_event(json.dumps(example_request()), message_ids=["m-log"]))
    formatter = handler.logger.registered_formatter
    logs = [json.loads(formatter.format(record)) for record in caplog.records if record.name == handler.SERVICE]
    launched = [entry for entry in logs if entry.get("outcome") == "LAUNCHED"]
    assert launched and launched[0]["job_id"] == "job-1" and launched[0]["message_id"] == "m-log"


def test_fifo_failure_skips_the_rest_of_its_message_group(aws: AwsWorld, use_consumer: Any) -> None:
    use_consumer(CrashOn(aws.consumer(), "g1-a"))
    event = sqs_event(
        *[json.dumps(example_request(job_id=j)) for j in ("j1", "j2", "j3", "j4")],
        message_ids=["g1-a", "g2-a", "g1-b", "g2-b"],
    )
    for record, group in zip(event["Records"], ("g1", "g2", "g1", "g2"), strict=True):
        record["eventSourceARN"] += ".fifo"
        record["attributes"]["MessageGroupId"] = group

    response = invoke(event)

    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["g1-a", "g1-b"]
    assert {aws.jobs.get(j)["status"] for j in ("j2", "j4")} == {"LAUNCHED"}  # type: ignore[index]
    assert aws.jobs.get("j3") is None  # skipped, not attempted


@pytest.mark.parametrize("event", [{}, {"Records": "nope"}, {"Records": [{"messageId": "m-1"}]}])
def test_malformed_event_never_raises(event: dict[str, Any], use_consumer: Any, aws: AwsWorld) -> None:
    use_consumer(aws.consumer())
    response = invoke(event)
    assert set(response) == {"batchItemFailures"}


def test_missing_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="ECS_SUBNETS: is required"):
        ConsumerSettings.from_env({"ECS_CLUSTER": "c", "ECS_TASK_DEFINITION_ARN": "t"})


def test_settings_parse_lists_and_bounds() -> None:
    env = {
        "ECS_CLUSTER": "c",
        "ECS_TASK_DEFINITION_ARN": "t",
        "ECS_SUBNETS": "subnet-1, subnet-2",
        "ECS_SECURITY_GROUPS": "sg-1",
        "WORKFLOW_STATE_TABLE": "jobs",
        "BACKTEST_QUEUE_URL": "https://q",
        "MAX_CONCURRENT_TASKS": "3",
        "SPOT_FALLBACK_TO_ON_DEMAND": "true",
    }
    settings = ConsumerSettings.from_env(env)
    assert settings.ecs_subnets == ("subnet-1", "subnet-2") and settings.max_concurrent_tasks == 3
    assert settings.spot_fallback_to_on_demand is True and settings.environment == "dev"
    with pytest.raises(SettingsError, match="MAX_CONCURRENT_TASKS"):
        ConsumerSettings.from_env({**env, "MAX_CONCURRENT_TASKS": "0"})
