"""The consumer's decisions against moto-backed adapters: one task per job, the cap, rejections."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from backtest_core.consumer import Consumer, IncomingMessage, Outcome
from backtest_core.jobs import JobStatus
from backtest_core.ports import LaunchError
from backtest_core.request import parse_request
from local_stack.ecs_emulation import IdempotentEcsClient
from tests.factories import example_request
from tests.unit.conftest import CLUSTER, CONTAINER, AwsWorld


def message(body: dict[str, Any] | str, message_id: str = "m-1", attempt: int = 1) -> IncomingMessage:
    return IncomingMessage(message_id, body if isinstance(body, str) else json.dumps(body), attempt)


def test_valid_request_launches_one_spot_task_and_records_it(aws: AwsWorld) -> None:
    result = aws.consumer().consume(message(example_request()))

    assert result.outcome is Outcome.LAUNCHED
    job = aws.jobs.get("job-1")
    assert job is not None
    assert job["status"] == JobStatus.LAUNCHED
    assert job["task_arn"] == result.detail and job["capacity_provider"] == "FARGATE_SPOT"
    assert job["attempts"] == 1 and job["request"]["strategy"] == "TrendFollowingStrategy"
    assert aws.jobs.slot_holders() == {"job-1"}
    [task] = aws.ecs.describe_tasks(cluster=CLUSTER, tasks=aws.tasks())["tasks"]
    overrides = task["overrides"]["containerOverrides"][0]
    assert overrides["name"] == CONTAINER
    assert {e["name"]: e["value"] for e in overrides["environment"]} == {"JOB_ID": "job-1", "ATTEMPT": "1"}


def test_invalid_request_is_rejected_with_every_error_and_launches_nothing(aws: AwsWorld) -> None:
    body = example_request(stoploss=2, stop_loss=-0.1)
    result = aws.consumer().consume(message(body))

    assert result.outcome is Outcome.REJECTED
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.REJECTED
    assert {e["field"] for e in job["errors"]} == {"config.stoploss", "config.stop_loss"}
    assert job["body_excerpt"].startswith("{")
    assert aws.tasks() == [] and aws.jobs.slot_holders() == set()


def test_body_that_is_not_json_is_rejected_under_the_message_derived_id(aws: AwsWorld) -> None:
    result = aws.consumer().consume(message("}{", message_id="m-garbage"))
    assert result.outcome is Outcome.REJECTED
    job = aws.jobs.get(result.job_id)
    assert job is not None and job["errors"][0]["field"] == "body" and job["message_id"] == "m-garbage"


def test_invalid_request_never_overwrites_an_existing_job(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    consumer.consume(message(example_request(), message_id="m-1"))
    result = consumer.consume(message(example_request(stoploss=3), message_id="m-2"))

    assert result.outcome is Outcome.REJECTED and result.job_id != "job-1"
    assert aws.jobs.get("job-1")["status"] == JobStatus.LAUNCHED  # type: ignore[index]
    rejected = aws.jobs.get(result.job_id)
    assert rejected is not None
    assert {"field": "job_id", "rule": "'job-1' already belongs to another job"} in rejected["errors"]


def test_redelivered_message_is_a_duplicate(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    first = consumer.consume(message(example_request()))
    second = consumer.consume(message(example_request()))
    assert (first.outcome, second.outcome) == (Outcome.LAUNCHED, Outcome.DUPLICATE)
    assert len(aws.tasks()) == 1


def test_same_job_id_in_two_messages_runs_once(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    consumer.consume(message(example_request(), message_id="m-1"))
    second = consumer.consume(message(example_request(timeframe="4h"), message_id="m-2"))
    assert second.outcome is Outcome.DUPLICATE
    assert len(aws.tasks()) == 1
    assert aws.jobs.get("job-1")["request"]["timeframe"] == "1h"  # type: ignore[index]


def test_message_without_job_id_maps_to_the_same_job_on_redelivery(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    first = consumer.consume(message(example_request(job_id=None), message_id="m-7"))
    again = consumer.consume(message(example_request(job_id=None), message_id="m-7"))
    assert first.job_id == again.job_id and again.outcome is Outcome.DUPLICATE
    assert len(aws.tasks()) == 1


def test_two_invocations_racing_on_one_message_start_one_task(aws: AwsWorld) -> None:
    aws = aws.serialized()
    ecs = IdempotentEcsClient(aws.ecs)
    consumers = [aws.consumer(ecs=ecs) for _ in range(2)]
    start = threading.Barrier(2)

    def consume(consumer: Consumer) -> Outcome:
        start.wait()
        return consumer.consume(message(example_request())).outcome

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(consume, consumers))

    assert Outcome.LAUNCHED in outcomes
    assert set(outcomes) <= {Outcome.LAUNCHED, Outcome.DUPLICATE}
    assert len(aws.tasks()) == 1
    assert aws.jobs.slot_holders() == {"job-1"}


class CrashAfterRunTask:
    """An ECS client whose first RunTask starts the task, then the Lambda dies."""

    def __init__(self, ecs: Any) -> None:
        self._ecs = ecs
        self.tokens: list[str] = []

    def run_task(self, **params: Any) -> dict[str, Any]:
        self.tokens.append(params["clientToken"])
        response = self._ecs.run_task(**params)
        if len(self.tokens) == 1:
            raise RuntimeError("Lambda timed out after RunTask")
        return response


def test_a_twin_delivery_during_the_claim_lease_is_a_duplicate_and_launches_nothing(aws: AwsWorld) -> None:
    ecs = CrashAfterRunTask(IdempotentEcsClient(aws.ecs))
    with pytest.raises(RuntimeError):
        aws.consumer(ecs=ecs).consume(message(example_request()))  # claimed, launched, then died

    twin = aws.consumer(ecs=ecs).consume(message(example_request(), message_id="m-twin"))

    assert twin.outcome is Outcome.DUPLICATE and "RECEIVED" in twin.detail
    assert len(ecs.tokens) == 1 and aws.jobs.slot_holders() == {"job-1"}


def test_crash_between_run_task_and_state_write_then_redelivery_gives_one_task(aws: AwsWorld) -> None:
    ecs = CrashAfterRunTask(IdempotentEcsClient(aws.ecs))
    # SQS redelivers after the visibility timeout (6x the Lambda timeout), past the claim lease:
    # a lease of 0 stands for that wait.
    consumer = aws.consumer(ecs=ecs, lease=0)
    with pytest.raises(RuntimeError):
        consumer.consume(message(example_request()))
    assert aws.jobs.get("job-1")["status"] == JobStatus.RECEIVED  # type: ignore[index]

    redelivered = consumer.consume(message(example_request()))

    assert redelivered.outcome is Outcome.LAUNCHED
    assert ecs.tokens == ["job-1", "job-1"]  # the same clientToken both times
    assert len(aws.tasks()) == 1
    assert aws.jobs.get("job-1")["task_arn"] == aws.tasks()[0]  # type: ignore[index]


def test_cap_defers_and_resends_the_request_with_its_job_id(aws: AwsWorld) -> None:
    consumer = aws.consumer(cap=1)
    consumer.consume(message(example_request(job_id="first"), message_id="m-1"))
    deferred = consumer.consume(message(example_request(job_id=None), message_id="m-2"))

    assert deferred.outcome is Outcome.DEFERRED
    assert aws.jobs.get(deferred.job_id)["status"] == JobStatus.DEFERRED  # type: ignore[index]
    [resent] = aws.queued_messages()
    assert json.loads(resent["Body"])["job_id"] == deferred.job_id
    assert resent["MessageAttributes"]["attempt"]["StringValue"] == "1"
    assert len(aws.tasks()) == 1

    aws.jobs.release_slot("first")  # the first task ended
    resumed = consumer.consume(message(resent["Body"], message_id=resent["MessageId"]))
    assert resumed.outcome is Outcome.LAUNCHED and resumed.job_id == deferred.job_id
    assert len(aws.tasks()) == 2


def test_cap_holds_across_concurrent_consumers(aws: AwsWorld) -> None:
    aws = aws.serialized()
    ecs = IdempotentEcsClient(aws.ecs)
    consumers = [aws.consumer(cap=5, ecs=ecs) for _ in range(2)]
    bodies = [(i, example_request(job_id=f"job-{i}")) for i in range(20)]

    def consume(item: tuple[int, dict[str, Any]]) -> Outcome:
        index, body = item
        return consumers[index % 2].consume(message(body, message_id=f"m-{index}")).outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(consume, bodies))

    assert outcomes.count(Outcome.LAUNCHED) == 5 and outcomes.count(Outcome.DEFERRED) == 15
    assert len(aws.tasks()) == 5 and len(aws.jobs.slot_holders()) == 5


class FailingEcs:
    """RunTask answers HTTP 200 with no task, as ECS does when Spot capacity is short."""

    def __init__(self, ecs: Any, reason: str, *, only: str | None = None) -> None:
        self._ecs = ecs
        self._reason = reason
        self._only = only
        self.providers: list[str] = []

    def run_task(self, **params: Any) -> dict[str, Any]:
        provider = params["capacityProviderStrategy"][0]["capacityProvider"]
        self.providers.append(provider)
        if self._only in (None, provider):
            return {"tasks": [], "failures": [{"arn": "arn:aws:ecs:x", "reason": self._reason}]}
        return self._ecs.run_task(**params)


def test_run_task_failures_in_a_200_response_are_launch_errors_and_free_the_slot(aws: AwsWorld) -> None:
    consumer = aws.consumer(ecs=FailingEcs(aws.ecs, "Capacity is unavailable at this time"))
    with pytest.raises(LaunchError) as caught:
        consumer.consume(message(example_request()))

    assert caught.value.category == "CapacityUnavailable"
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.RECEIVED
    assert "Capacity is unavailable" in job["status_reason"]
    assert aws.jobs.slot_holders() == set()


def test_spot_shortage_falls_back_to_on_demand_when_enabled(aws: AwsWorld) -> None:
    ecs = FailingEcs(IdempotentEcsClient(aws.ecs), "Capacity is unavailable at this time", only="FARGATE_SPOT")
    result = aws.consumer(ecs=ecs, fallback=True).consume(message(example_request()))

    assert result.outcome is Outcome.LAUNCHED
    assert ecs.providers == ["FARGATE_SPOT", "FARGATE"]
    assert aws.jobs.get("job-1")["capacity_provider"] == "FARGATE"  # type: ignore[index]


class ThrottledEcs:
    def __init__(self, code: str, text: str) -> None:
        self._code, self._text = code, text

    def run_task(self, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": self._code, "Message": self._text}}, "RunTask")


@pytest.mark.parametrize(
    ("code", "text"),
    [("ThrottlingException", "Rate exceeded"), ("InvalidParameterException", "Rate exceeded for RunTask")],
)
def test_throttling_is_a_launch_error(aws: AwsWorld, code: str, text: str) -> None:
    with pytest.raises(LaunchError) as caught:
        aws.consumer(ecs=ThrottledEcs(code, text)).consume(message(example_request()))
    assert caught.value.category == "Throttled"
    assert aws.jobs.slot_holders() == set()


def test_interrupted_job_relaunches_once_for_its_next_attempt(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    consumer.consume(message(example_request()))
    first_task = aws.jobs.get("job-1")["task_arn"]  # type: ignore[index]
    aws.jobs.transition("job-1", JobStatus.INTERRUPTED)
    aws.jobs.release_slot("job-1")

    retry = consumer.consume(message(example_request(), message_id="m-retry", attempt=2))
    stale = consumer.consume(message(example_request(), message_id="m-retry", attempt=2))

    assert (retry.outcome, stale.outcome) == (Outcome.LAUNCHED, Outcome.DUPLICATE)
    job = aws.jobs.get("job-1")
    assert job is not None and job["attempts"] == 2 and job["task_arn"] != first_task
    assert len(aws.tasks()) == 2


def test_an_old_attempt_cannot_relaunch_an_interrupted_job(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    consumer.consume(message(example_request(), attempt=1))
    aws.jobs.transition("job-1", JobStatus.INTERRUPTED)
    assert consumer.consume(message(example_request(), attempt=1)).outcome is Outcome.DUPLICATE


def test_a_rejected_job_sent_again_fixed_under_its_id_launches(aws: AwsWorld) -> None:
    consumer = aws.consumer()
    first = consumer.consume(message(example_request(stop_loss=-0.05), message_id="m-1"))
    fixed = consumer.consume(message(example_request(stoploss=-0.05), message_id="m-2"))

    assert (first.outcome, fixed.outcome) == (Outcome.REJECTED, Outcome.LAUNCHED)
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.LAUNCHED
    assert "errors" not in job and job["request"]["stoploss"] == Decimal("-0.05")


class TwinArrivesDuringLaunch:
    """B's RunTask: meanwhile twin A is delivered; then B's own call finds no capacity."""

    def __init__(self, twin: Consumer) -> None:
        self._twin = twin
        self.twin_outcomes: list[Outcome] = []

    def run_task(self, **params: Any) -> dict[str, Any]:
        self.twin_outcomes.append(self._twin.consume(message(example_request(), message_id="m-a")).outcome)
        return {"tasks": [], "failures": [{"reason": "Capacity is unavailable at this time"}]}


def test_a_twin_during_a_failing_launch_neither_launches_nor_frees_the_slot(aws: AwsWorld) -> None:
    ecs = TwinArrivesDuringLaunch(aws.consumer())
    with pytest.raises(LaunchError):
        aws.consumer(ecs=ecs).consume(message(example_request(), message_id="m-b"))

    assert ecs.twin_outcomes == [Outcome.DUPLICATE]  # B held the claim
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.RECEIVED and "claimant" not in job
    assert aws.jobs.slot_holders() == set() and aws.tasks() == []
    # B's message comes back and launches the job, once.
    assert aws.consumer().consume(message(example_request(), message_id="m-b")).outcome is Outcome.LAUNCHED
    assert len(aws.tasks()) == 1 and aws.jobs.slot_holders() == {"job-1"}


class SpotShortThenCrashAfterOnDemand:
    """Spot has no capacity once; the on-demand fallback starts a task, then the Lambda dies."""

    def __init__(self, ecs: Any) -> None:
        self._ecs = ecs
        self.providers: list[str] = []

    def run_task(self, **params: Any) -> dict[str, Any]:
        provider = params["capacityProviderStrategy"][0]["capacityProvider"]
        self.providers.append(provider)
        if self.providers == ["FARGATE_SPOT"]:
            return {"tasks": [], "failures": [{"reason": "Capacity is unavailable at this time"}]}
        response = self._ecs.run_task(**params)
        if self.providers == ["FARGATE_SPOT", "FARGATE"]:
            raise RuntimeError("Lambda timed out after the on-demand RunTask")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)


def test_a_redelivery_after_a_crash_adopts_the_on_demand_task_instead_of_starting_a_spot_twin(aws: AwsWorld) -> None:
    ecs = SpotShortThenCrashAfterOnDemand(IdempotentEcsClient(aws.ecs))
    consumer = aws.consumer(ecs=ecs, fallback=True, lease=0)
    with pytest.raises(RuntimeError):
        consumer.consume(message(example_request()))

    redelivered = IncomingMessage("m-1", json.dumps(example_request()), redelivered=True)
    assert consumer.consume(redelivered).outcome is Outcome.LAUNCHED

    assert ecs.providers == ["FARGATE_SPOT", "FARGATE"]  # no Spot call the second time
    job = aws.jobs.get("job-1")
    assert job is not None and job["capacity_provider"] == "FARGATE"
    assert aws.tasks() == [job["task_arn"]]


def test_a_deferral_never_takes_a_job_another_delivery_is_launching(aws: AwsWorld) -> None:
    """Found by the drill: a delivery that met the cap wrote DEFERRED over a claim another
    delivery had made meanwhile; that delivery's task then ran for a job marked DEFERRED."""
    request = parse_request(json.dumps(example_request()), message_id="m-1")
    claim = aws.jobs.claim(request, attempt=1, message_id="m-1", cap=10, claimant="a", lease_seconds=300)
    assert claim.outcome.value == "CLAIMED"

    assert aws.jobs.defer(request, message_id="m-2", attempt=1) is False
    job = aws.jobs.get("job-1")
    assert job is not None and job["status"] == JobStatus.RECEIVED and job["claimant"] == "a"

    aws.jobs.abandon_launch("job-1", claimant="a", detail="no capacity")  # let go: now it may wait
    assert aws.jobs.defer(request, message_id="m-2", attempt=1) is True
