"""task-events and reconciler Lambdas: wiring from settings, metrics, events that are not ours."""

from __future__ import annotations

import json

import pytest

import reconciler.handler as reconciler
import task_events.handler as task_events
from backtest_core.consumer import IncomingMessage
from tests.factories import ecs_task_event, example_request
from tests.unit.conftest import AwsWorld


class LambdaContext:
    function_name = "task-events"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:task-events"
    aws_request_id = "request-1"


@pytest.fixture
def wired(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> AwsWorld:
    monkeypatch.setattr(task_events, "settings", aws.lifecycle_settings())
    monkeypatch.setattr(reconciler, "settings", reconciler.ReconcilerSettings(**aws.lifecycle_settings().model_dump()))
    task_events.lifecycle.cache_clear()
    reconciler.lifecycle.cache_clear()
    yield aws
    task_events.lifecycle.cache_clear()
    reconciler.lifecycle.cache_clear()


def launched_task(aws: AwsWorld) -> str:
    aws.consumer().consume(IncomingMessage("m-1", json.dumps(example_request())))
    return aws.jobs.get("job-1")["task_arn"]  # type: ignore[index]


def metric_values(output: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in output.splitlines():
        if '"_aws"' in line:
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                assert directive["Dimensions"] == [["Environment"]]
                values.update({m["Name"]: sum(blob[m["Name"]]) for m in directive["Metrics"]})
    return values


def test_task_events_settles_the_job_and_publishes_metrics(wired: AwsWorld, capsys: pytest.CaptureFixture[str]) -> None:
    task_arn = launched_task(wired)
    running = task_events.lambda_handler(ecs_task_event(task_arn, "job-1", "RUNNING", version=1), LambdaContext())
    stopped = task_events.lambda_handler(
        ecs_task_event(task_arn, "job-1", "STOPPED", version=2, exit_code=0), LambdaContext()
    )
    assert (running, stopped) == ({"change": "RUNNING"}, {"change": "SUCCEEDED"})
    assert wired.jobs.get("job-1")["status"] == "SUCCEEDED"  # type: ignore[index]
    metrics = metric_values(capsys.readouterr().out)
    assert metrics["BacktestTasksSucceeded"] == 1.0
    assert 590 <= metrics["BacktestTaskDuration"] <= 610


def test_task_events_interruption_counts_and_requeues(wired: AwsWorld, capsys: pytest.CaptureFixture[str]) -> None:
    task_arn = launched_task(wired)
    event = ecs_task_event(task_arn, "job-1", "STOPPED", version=2, stop_code="SpotInterruption")
    assert task_events.lambda_handler(event, LambdaContext()) == {"change": "INTERRUPTED"}
    assert metric_values(capsys.readouterr().out)["BacktestTasksInterrupted"] == 1.0
    [requeued] = wired.queued_messages()
    assert json.loads(requeued["Body"])["job_id"] == "job-1"
    assert requeued["MessageAttributes"]["attempt"]["StringValue"] == "2"


def test_task_events_ignores_tasks_that_are_not_backtests(wired: AwsWorld) -> None:
    event = ecs_task_event("arn:aws:ecs:us-east-1:123456789012:task/other/1", "x", "RUNNING", version=1)
    event["detail"]["overrides"] = {"containerOverrides": []}
    del event["detail"]["startedBy"]
    assert task_events.lambda_handler(event, LambdaContext()) == {"change": "IGNORED"}
    unknown_job = ecs_task_event("arn:aws:ecs:us-east-1:123456789012:task/other/2", "nobody", "RUNNING", version=1)
    assert task_events.lambda_handler(unknown_job, LambdaContext()) == {"change": "IGNORED"}


def test_reconciler_reports_what_it_settled(wired: AwsWorld) -> None:
    launched_task(wired)
    wired.ddb.update_item(
        TableName="backtest-jobs-test",
        Key={"job_id": {"S": "job-1"}},
        UpdateExpression="SET task_arn = :gone",
        ExpressionAttributeValues={":gone": {"S": "arn:aws:ecs:us-east-1:123456789012:task/backtest-test/gone"}},
    )
    assert reconciler.lambda_handler({}, LambdaContext()) == {"FAILED": 1}
