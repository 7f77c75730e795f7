"""Task lifecycle: ECS task events and the reconciler bring every job to an honest end state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backtest_core.adapters.ecs_tasks import EcsTaskControl
from backtest_core.adapters.request_queue import SqsRequestQueue
from backtest_core.consumer import Consumer, IncomingMessage, Outcome
from backtest_core.jobs import JobStatus, utc_now
from backtest_core.lifecycle import Change, TaskLifecycle, TaskState
from backtest_core.ports import LaunchError
from backtest_core.request import parse_request
from tests.factories import ecs_task_event, example_request
from tests.unit.conftest import CLUSTER, AwsWorld


class Pipeline:
    """The consumer and the lifecycle over one moto world, with the queue in between."""

    def __init__(self, aws: AwsWorld, max_attempts: int = 3) -> None:
        self.aws = aws
        self.consumer: Consumer = aws.consumer()
        self.lifecycle = TaskLifecycle(
            jobs=aws.jobs,
            queue=SqsRequestQueue(aws.sqs, aws.queue_url),
            tasks=EcsTaskControl(aws.ecs, cluster=CLUSTER),
            max_attempts=max_attempts,
        )
        self.versions: dict[str, int] = {}

    def submit(self, job_id: str = "job-1") -> str:
        result = self.consumer.consume(IncomingMessage("m-" + job_id, json.dumps(example_request(job_id=job_id))))
        assert result.outcome is Outcome.LAUNCHED
        return result.detail

    def deliver_queued(self) -> list[Outcome]:
        """Play the event source mapping once for what the pipeline re-queued."""
        outcomes = []
        for sent in self.aws.queued_messages():
            attempt = int(sent.get("MessageAttributes", {}).get("attempt", {}).get("StringValue", "1"))
            outcomes.append(self.consumer.consume(IncomingMessage(sent["MessageId"], sent["Body"], attempt)).outcome)
            self.aws.sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=sent["ReceiptHandle"])
        return outcomes

    def event(self, job_id: str, status: str, *, version: int | None = None, **stop: Any) -> Change:
        job = self.aws.jobs.get(job_id)
        assert job is not None
        task_arn = stop.pop("task_arn", None) or job["task_arn"]
        if version is None:
            version = self.versions.get(task_arn, 0) + 1
        self.versions[task_arn] = max(version, self.versions.get(task_arn, 0))
        event = ecs_task_event(
            task_arn, job_id, status, version=version, attempt=stop.pop("attempt", job["attempts"]), **stop
        )
        return self.lifecycle.on_task_state(TaskState.from_ecs(event["detail"])).change

    def status(self, job_id: str = "job-1") -> str:
        job = self.aws.jobs.get(job_id)
        assert job is not None
        return job["status"]


@pytest.fixture
def pipeline(aws: AwsWorld) -> Pipeline:
    return Pipeline(aws)


def test_running_then_success(pipeline: Pipeline) -> None:
    pipeline.submit()
    assert pipeline.event("job-1", "RUNNING") is Change.RUNNING
    assert pipeline.status() == JobStatus.RUNNING
    assert pipeline.event("job-1", "STOPPED", exit_code=0) is Change.SUCCEEDED
    job = pipeline.aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.SUCCEEDED and job["exit_code"] == 0
    assert job["finished_at"].endswith("Z") and job["started_at"] < job["finished_at"]
    assert pipeline.aws.jobs.slot_holders() == set()


@pytest.mark.parametrize(
    ("stop", "status", "reason_fragment"),
    [
        ({"exit_code": 1}, JobStatus.FAILED, "crashed with exit code 1"),
        ({"exit_code": 2}, JobStatus.FAILED, "bad request"),
        ({"exit_code": 137}, JobStatus.FAILED, "out of memory"),
        (
            {"stop_code": "TaskFailedToStart", "stopped_reason": "CannotPullContainerError: pull access denied"},
            JobStatus.FAILED,
            "CannotPullContainerError",
        ),
        ({"stop_code": "UserInitiated", "stopped_reason": "cancelled from the console"}, JobStatus.CANCELLED, "user"),
        (
            {"stop_code": "SpotInterruption", "stopped_reason": "Your Spot Task was interrupted.", "exit_code": 143},
            JobStatus.INTERRUPTED,
            "Spot interruption on attempt 1",
        ),
        (
            {"stop_code": "TerminationNotice", "stopped_reason": "Your Spot Task was interrupted."},
            JobStatus.INTERRUPTED,
            "Spot",
        ),
    ],
)
def test_stopped_task_verdicts(
    pipeline: Pipeline, stop: dict[str, Any], status: JobStatus, reason_fragment: str
) -> None:
    pipeline.submit()
    pipeline.event("job-1", "RUNNING")
    pipeline.event("job-1", "STOPPED", **stop)
    job = pipeline.aws.jobs.get("job-1")
    assert job is not None and job["status"] == status
    assert reason_fragment in job["status_reason"]
    assert pipeline.aws.jobs.slot_holders() == set()


def test_same_event_twice_changes_nothing_the_second_time(pipeline: Pipeline) -> None:
    pipeline.submit()
    assert pipeline.event("job-1", "RUNNING", version=2) is Change.RUNNING
    assert pipeline.event("job-1", "RUNNING", version=2) is Change.IGNORED
    assert pipeline.event("job-1", "STOPPED", version=4, exit_code=0) is Change.SUCCEEDED
    assert pipeline.event("job-1", "STOPPED", version=4, exit_code=0) is Change.IGNORED
    assert pipeline.status() == JobStatus.SUCCEEDED


def test_stopped_before_running_and_a_late_running_never_moves_back(pipeline: Pipeline) -> None:
    pipeline.submit()
    assert pipeline.event("job-1", "STOPPED", version=3, exit_code=0) is Change.SUCCEEDED
    assert pipeline.event("job-1", "RUNNING", version=2) is Change.IGNORED
    assert pipeline.status() == JobStatus.SUCCEEDED


def test_event_that_overtakes_the_launched_write_still_applies(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    task_arn = aws.jobs.get("job-1")["task_arn"]  # type: ignore[index]
    # As if the consumer had not yet written LAUNCHED: RECEIVED, no task recorded.
    aws.ddb.update_item(
        TableName="backtest-jobs-test",
        Key={"job_id": {"S": "job-1"}},
        UpdateExpression="SET #s = :r REMOVE task_arn",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "RECEIVED"}},
    )
    assert pipeline.event("job-1", "RUNNING", task_arn=task_arn, attempt=1) is Change.RUNNING
    assert aws.jobs.get("job-1")["task_arn"] == task_arn  # type: ignore[index]


def test_interruption_then_success_ends_succeeded_with_two_attempts(pipeline: Pipeline, aws: AwsWorld) -> None:
    first_task = pipeline.submit()
    pipeline.event("job-1", "RUNNING")
    assert pipeline.event("job-1", "STOPPED", stop_code="SpotInterruption", exit_code=143) is Change.INTERRUPTED
    assert pipeline.status() == JobStatus.INTERRUPTED

    assert pipeline.deliver_queued() == [Outcome.LAUNCHED]
    job = aws.jobs.get("job-1")
    assert job is not None and job["attempts"] == 2 and job["task_arn"] != first_task

    # A late duplicate of the first task's STOPPED event touches nothing now.
    assert pipeline.event("job-1", "STOPPED", task_arn=first_task, version=99, attempt=1, exit_code=1) is Change.IGNORED
    pipeline.event("job-1", "RUNNING")
    assert pipeline.event("job-1", "STOPPED", exit_code=0) is Change.SUCCEEDED
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.SUCCEEDED and job["attempts"] == 2
    assert len(aws.tasks("STOPPED")) + len(aws.tasks()) == 2  # exactly one task per attempt
    assert pipeline.deliver_queued() == []


def test_three_interruptions_in_a_row_end_failed_at_the_attempt_limit(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    changes = []
    for _ in range(3):
        pipeline.event("job-1", "RUNNING")
        changes.append(pipeline.event("job-1", "STOPPED", stop_code="SpotInterruption"))
        pipeline.deliver_queued()

    assert changes == [Change.INTERRUPTED, Change.INTERRUPTED, Change.FAILED]
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.FAILED and job["attempts"] == 3
    assert "attempt limit (3) reached" in job["status_reason"]
    assert aws.jobs.slot_holders() == set()


def test_interruption_event_retried_after_a_lost_requeue_sends_it_again(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    pipeline.event("job-1", "STOPPED", version=5, stop_code="SpotInterruption")
    aws.sqs.purge_queue(QueueUrl=aws.queue_url)  # as if the send had failed after the write
    pipeline.event("job-1", "STOPPED", version=5, stop_code="SpotInterruption")  # EventBridge retries
    assert pipeline.deliver_queued() == [Outcome.LAUNCHED]


def test_interrupted_job_keeps_the_cap(aws: AwsWorld) -> None:
    pipeline = Pipeline(aws)
    pipeline.consumer = aws.consumer(cap=1)
    pipeline.submit("a")
    pipeline.event("a", "STOPPED", stop_code="SpotInterruption")
    pipeline.submit("b")  # a's slot was freed by its stop; b takes it
    assert pipeline.deliver_queued() == [Outcome.DEFERRED]  # a's retry waits for a slot
    assert aws.jobs.slot_holders() == {"b"}


def test_cancel_stops_the_task_and_frees_the_slot(pipeline: Pipeline, aws: AwsWorld) -> None:
    task_arn = pipeline.submit()
    settled = pipeline.lifecycle.cancel("job-1")
    assert settled.change is Change.CANCELLED
    assert pipeline.status() == JobStatus.CANCELLED
    [task] = aws.ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"]
    assert task["desiredStatus"] == "STOPPED"
    assert aws.jobs.slot_holders() == set()
    # ECS then reports the stop; the job stays cancelled.
    assert pipeline.event("job-1", "STOPPED", stop_code="UserInitiated", exit_code=143) is Change.IGNORED
    assert pipeline.lifecycle.cancel("job-1").change is Change.IGNORED


def test_reconciler_frees_a_leaked_slot(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    pipeline.event("job-1", "STOPPED", exit_code=0)
    aws.ddb.update_item(  # a slot left behind, e.g. by a crash between two writes
        TableName="backtest-jobs-test",
        Key={"job_id": {"S": "#concurrency-slots"}},
        UpdateExpression="ADD holders :j",
        ExpressionAttributeValues={":j": {"SS": ["job-1", "ghost"]}},
    )
    pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6))
    assert aws.jobs.slot_holders() == set()


def test_reconciler_keeps_the_slot_of_a_claim_in_flight(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    aws.jobs.transition("job-1", JobStatus.FAILED)  # make room, then claim without launching
    aws.jobs.release_slot("job-1")
    aws.jobs.claim(
        parse_request(json.dumps(example_request(job_id="job-2")), message_id="m"),
        attempt=1,
        message_id="m",
        cap=10,
        claimant="c",
        lease_seconds=300,
    )
    pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6))
    assert aws.jobs.slot_holders() == {"job-2"}


def test_reconciler_settles_a_job_whose_task_vanished(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    aws.ddb.update_item(
        TableName="backtest-jobs-test",
        Key={"job_id": {"S": "job-1"}},
        UpdateExpression="SET task_arn = :gone",
        ExpressionAttributeValues={":gone": {"S": f"arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/gone"}},
    )
    [settled] = pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6))
    assert settled.change is Change.FAILED
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.FAILED and "no longer exists" in job["status_reason"]
    assert aws.jobs.slot_holders() == set()


class DescribedAs:
    """ECS whose DescribeTasks answers with given task descriptions (same shape as event details)."""

    def __init__(self, *tasks: dict[str, Any]) -> None:
        self._tasks = {task["taskArn"]: task for task in tasks}

    def describe(self, task_arns: list[str]) -> dict[str, dict[str, Any]]:
        return {arn: self._tasks[arn] for arn in task_arns if arn in self._tasks}

    def stop(self, task_arn: str, reason: str) -> None:
        raise AssertionError("nothing should be stopped")


@pytest.mark.parametrize(
    ("stop", "status"),
    [({"exit_code": 0}, JobStatus.SUCCEEDED), ({"exit_code": 1}, JobStatus.FAILED)],
)
def test_reconciler_settles_a_stopped_task_whose_event_was_lost(
    pipeline: Pipeline, aws: AwsWorld, stop: dict[str, Any], status: JobStatus
) -> None:
    task_arn = pipeline.submit()
    stopped = ecs_task_event(task_arn, "job-1", "STOPPED", version=3, **stop)["detail"]
    lifecycle = TaskLifecycle(jobs=aws.jobs, queue=SqsRequestQueue(aws.sqs, aws.queue_url), tasks=DescribedAs(stopped))

    [settled] = lifecycle.reconcile(max_task_duration=timedelta(hours=6))

    assert settled.change == Change(status.value)
    assert pipeline.status() == status
    assert aws.jobs.slot_holders() == set()


def test_reconciler_stops_an_overlong_task(pipeline: Pipeline, aws: AwsWorld) -> None:
    task_arn = pipeline.submit()
    seven_hours_ago = utc_now(datetime.now(UTC) - timedelta(hours=7))
    aws.jobs.transition("job-1", JobStatus.RUNNING, {"started_at": seven_hours_ago})

    [settled] = pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6))

    assert settled.change is Change.FAILED
    job = aws.jobs.get("job-1")
    assert job is not None and "timed out: ran longer than 360 minutes" in job["status_reason"]
    [task] = aws.ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"]
    assert task["desiredStatus"] == "STOPPED"
    assert aws.jobs.slot_holders() == set()


def test_reconciler_leaves_a_healthy_running_job_alone(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    pipeline.event("job-1", "RUNNING")
    assert pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6)) == []
    assert pipeline.status() == JobStatus.RUNNING and aws.jobs.slot_holders() == {"job-1"}


def test_interrupted_job_with_a_minimal_request_is_requeued(aws: AwsWorld) -> None:
    pipeline = Pipeline(aws)
    body = json.dumps({"job_id": "bare", "config": {"strategy": "TrendFollowingStrategy"}})
    assert pipeline.consumer.consume(IncomingMessage("m-bare", body)).outcome is Outcome.LAUNCHED
    assert pipeline.event("bare", "STOPPED", stop_code="SpotInterruption") is Change.INTERRUPTED
    assert pipeline.deliver_queued() == [Outcome.LAUNCHED]
    assert aws.jobs.get("bare")["attempts"] == 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        (2, "bad request, not retried: unknown strategy Nope (available: TrendFollowingStrategy)"),
        (1, "runner crashed with exit code 1: unknown strategy Nope (available: TrendFollowingStrategy)"),
    ],
)
def test_the_runners_own_reason_becomes_the_jobs_reason(
    pipeline: Pipeline, aws: AwsWorld, exit_code: int, expected: str
) -> None:
    pipeline.submit()
    aws.ddb.update_item(  # what the runner records before it exits
        TableName="backtest-jobs-test",
        Key={"job_id": {"S": "job-1"}},
        UpdateExpression="SET runner_reason = :r, failed_attempt = :a",
        ExpressionAttributeValues={
            ":r": {"S": "unknown strategy Nope (available: TrendFollowingStrategy)"},
            ":a": {"N": "1"},
        },
    )
    pipeline.event("job-1", "STOPPED", exit_code=exit_code)
    assert aws.jobs.get("job-1")["status_reason"] == expected  # type: ignore[index]


def test_reconciler_requeues_an_interrupted_job_whose_message_never_left(pipeline: Pipeline, aws: AwsWorld) -> None:
    pipeline.submit()
    pipeline.event("job-1", "STOPPED", stop_code="SpotInterruption")
    aws.sqs.purge_queue(QueueUrl=aws.queue_url)  # the re-queue message was lost
    recent = pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6))
    assert recent == [] and pipeline.deliver_queued() == []  # too recent: the event path may still send it

    settled = pipeline.lifecycle.reconcile(max_task_duration=timedelta(hours=6), stale_claim=timedelta(0))

    assert [s.change for s in settled] == [Change.INTERRUPTED]
    assert pipeline.deliver_queued() == [Outcome.LAUNCHED]
    assert aws.jobs.get("job-1")["attempts"] == 2  # type: ignore[index]


def test_reconciler_waits_for_a_stopped_task_described_without_a_stop_code(pipeline: Pipeline, aws: AwsWorld) -> None:
    task_arn = pipeline.submit()
    stopped = ecs_task_event(task_arn, "job-1", "STOPPED", version=3, exit_code=0)["detail"]
    del stopped["stopCode"]
    lifecycle = TaskLifecycle(jobs=aws.jobs, queue=SqsRequestQueue(aws.sqs, aws.queue_url), tasks=DescribedAs(stopped))
    assert lifecycle.reconcile(max_task_duration=timedelta(hours=6)) == []
    assert pipeline.status() == JobStatus.LAUNCHED


def test_a_late_copy_of_an_earlier_attempts_message_cannot_take_a_waiting_retry(aws: AwsWorld) -> None:
    """Found by the drill: a job deferred twice has two re-sent attempt-1 messages. One launches
    attempt 1, Spot takes it back, attempt 2's launch fails once; the other attempt-1 copy must
    not then claim the job, or RunTask's token would hand back attempt 1's stopped task."""
    pipeline = Pipeline(aws)
    body = json.dumps(example_request())
    first_task = pipeline.submit()
    pipeline.event("job-1", "STOPPED", stop_code="SpotInterruption")
    [requeued] = aws.queued_messages()
    retry = IncomingMessage(requeued["MessageId"], requeued["Body"], attempt=2)
    with pytest.raises(LaunchError):
        aws.consumer(ecs=NoCapacity()).consume(retry)  # attempt 2 refused once: RECEIVED, unclaimed

    late_copy = pipeline.consumer.consume(IncomingMessage("m-late", body, attempt=1))
    assert late_copy.outcome is Outcome.DUPLICATE

    assert pipeline.consumer.consume(retry).outcome is Outcome.LAUNCHED
    job = aws.jobs.get("job-1")
    assert job is not None and job["attempts"] == 2 and job["task_arn"] != first_task


class NoCapacity:
    def run_task(self, **params: Any) -> dict[str, Any]:
        return {"tasks": [], "failures": [{"reason": "Capacity is unavailable at this time"}]}
