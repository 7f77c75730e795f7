"""After launch: follow each task to its end, retry Spot interruptions, cancel, reconcile.

ECS reports a task through "ECS Task State Change" events, and ``DescribeTasks`` returns the
same fields, so ``TaskState`` is read from either and one code path settles a job whether an
event or the reconciler noticed the stop. Every write is a conditional transition that also
checks the job's current task ARN: an event about an earlier attempt's task, a duplicate,
or one that arrives out of order changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from backtest_core.jobs import TERMINAL, JobStatus, utc_now
from backtest_core.ports import JobRecords, RequestQueue, TaskControl
from backtest_core.request import BacktestRequest

EXIT_SUCCESS = 0
EXIT_CRASH = 1
EXIT_BAD_REQUEST = 2
EXIT_SIGTERM = 143
SPOT_STOP_CODES = frozenset({"SpotInterruption", "TerminationNotice"})
SPOT_REASON = "spot task was interrupted"
TASK_GONE = "the task no longer exists in ECS"


@dataclass(frozen=True)
class TaskState:
    """The fields of an ECS task (event detail or DescribeTasks entry) that decide a job."""

    task_arn: str
    job_id: str
    attempt: int
    last_status: str
    version: int
    capacity_provider: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    started_at: str | None = None
    stopped_at: str | None = None

    @classmethod
    def from_ecs(cls, task: dict[str, Any], container_name: str = "runner") -> TaskState:
        """Read an ECS task; the job id and attempt come from the container overrides."""
        overrides = {
            env["name"]: env["value"]
            for override in task.get("overrides", {}).get("containerOverrides", [])
            if override.get("name") == container_name
            for env in override.get("environment", [])
        }
        container: dict[str, Any] = next((c for c in task.get("containers", []) if c.get("name") == container_name), {})
        job_id = overrides.get("JOB_ID") or task.get("startedBy")
        if not job_id:
            raise ValueError(f"task {task.get('taskArn')} carries no JOB_ID: not a backtest task")
        return cls(
            task_arn=task["taskArn"],
            job_id=job_id,
            attempt=int(overrides.get("ATTEMPT", "1")),
            last_status=task["lastStatus"],
            version=int(task.get("version", 0)),
            capacity_provider=task.get("capacityProviderName"),
            stop_code=task.get("stopCode"),
            stopped_reason=task.get("stoppedReason"),
            exit_code=container.get("exitCode"),
            started_at=_iso(task.get("startedAt")),
            stopped_at=_iso(task.get("stoppedAt")),
        )

    @property
    def duration_seconds(self) -> float | None:
        if not (self.started_at and self.stopped_at):
            return None
        return (datetime.fromisoformat(self.stopped_at) - datetime.fromisoformat(self.started_at)).total_seconds()


def _iso(value: Any) -> str | None:
    """ECS events carry ISO strings, DescribeTasks (via boto3) datetimes: store ISO UTC."""
    if value is None:
        return None
    return utc_now(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def stop_verdict(task: TaskState, runner_reason: str | None = None) -> tuple[JobStatus, str]:
    """What a stopped task means for its job, with a reason a person can act on: the runner's
    own account of a failure (``runner_reason`` in the job table) when it left one."""
    reason = task.stopped_reason or ""
    if task.stop_code in SPOT_STOP_CODES or SPOT_REASON in reason.lower():
        return JobStatus.INTERRUPTED, f"Spot interruption on attempt {task.attempt}: {reason or task.stop_code}"
    if task.stop_code == "UserInitiated":
        return JobStatus.CANCELLED, f"stopped by a user: {reason or 'no reason given'}"
    if task.exit_code == EXIT_SUCCESS:
        return JobStatus.SUCCEEDED, "backtest finished"
    if task.exit_code == EXIT_BAD_REQUEST:
        return JobStatus.FAILED, f"bad request, not retried: {runner_reason or 'see the runner log'}"
    if task.exit_code is None:
        return JobStatus.FAILED, f"task did not run: {task.stop_code or 'unknown'}: {reason or 'no reason given'}"
    hint = " (killed: out of memory or SIGKILL)" if task.exit_code == 137 else ""
    detail = runner_reason or reason or "no reason given"
    return JobStatus.FAILED, f"runner crashed with exit code {task.exit_code}{hint}: {detail}"


class Change(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"  # and re-queued for the next attempt
    IGNORED = "IGNORED"  # stale, duplicate or out of order


@dataclass(frozen=True)
class Settled:
    change: Change
    job_id: str
    detail: str = ""
    duration_seconds: float | None = None


class TaskLifecycle:
    def __init__(self, *, jobs: JobRecords, queue: RequestQueue, tasks: TaskControl, max_attempts: int = 3) -> None:
        self._jobs = jobs
        self._queue = queue
        self._tasks = tasks
        self._max_attempts = max_attempts

    def on_task_state(self, task: TaskState) -> Settled:
        """Apply one observation of a task to its job."""
        job = self._jobs.get(task.job_id)
        if job is None:
            return Settled(Change.IGNORED, task.job_id, "no such job")
        if job.get("task_arn") not in (None, task.task_arn):
            return Settled(Change.IGNORED, task.job_id, f"event for an earlier task {task.task_arn}")
        if task.last_status == "RUNNING":
            return self._running(task)
        if task.last_status == "STOPPED":
            return self._stopped(task, job)
        return Settled(Change.IGNORED, task.job_id, f"state {task.last_status} changes nothing")

    def _running(self, task: TaskState) -> Settled:
        moved = self._jobs.transition(
            task.job_id,
            JobStatus.RUNNING,
            {"task_arn": task.task_arn, "started_at": task.started_at or utc_now(), "task_version": task.version},
            **self._same_task(task),
        )
        return Settled(Change.RUNNING if moved else Change.IGNORED, task.job_id)

    def _stopped(self, task: TaskState, job: dict[str, Any]) -> Settled:
        runner_reason = job.get("runner_reason") if job.get("failed_attempt") == task.attempt else None
        status, reason = stop_verdict(task, runner_reason)
        if status is JobStatus.INTERRUPTED and task.attempt >= self._max_attempts:
            status, reason = JobStatus.FAILED, f"{reason}; attempt limit ({self._max_attempts}) reached"
        fields: dict[str, Any] = {
            "task_arn": task.task_arn,
            "status_reason": reason,
            "finished_at": task.stopped_at or utc_now(),
            "task_version": task.version,
        }
        if task.exit_code is not None:
            fields["exit_code"] = task.exit_code
        moved = self._jobs.transition(task.job_id, status, fields, **self._same_task(task))
        # Every stop of the job's current task frees its slot; freeing twice is harmless.
        self._jobs.release_slot(task.job_id)
        current = self._jobs.get(task.job_id) if not moved else {**job, "status": status.value}
        if current and current.get("status") == JobStatus.INTERRUPTED and current.get("task_arn") == task.task_arn:
            # Sent again on a retried event too: the consumer launches each attempt once.
            self._requeue(current, next_attempt=task.attempt + 1)
        if not moved:
            return Settled(Change.IGNORED, task.job_id, f"job already {current and current.get('status')}")
        return Settled(Change(status.value), task.job_id, reason, task.duration_seconds)

    def _requeue(self, job: dict[str, Any], *, next_attempt: int) -> None:
        request = BacktestRequest.model_validate(job["request"])
        self._queue.send(request.to_message(), delay_seconds=0, attempt=next_attempt)

    @staticmethod
    def _same_task(task: TaskState) -> dict[str, Any]:
        # The job must still be on this task (or on none yet, if the event beat the LAUNCHED write),
        # and this event must be newer than the last one applied.
        return {
            "condition": "(attribute_not_exists(task_arn) OR task_arn = :arn) AND "
            "(attribute_not_exists(task_version) OR task_version < :version)",
            "condition_values": {":arn": task.task_arn, ":version": task.version},
        }

    # --- cancel ---------------------------------------------------------------------------

    def cancel(self, job_id: str, reason: str = "cancelled by a user") -> Settled:
        job = self._jobs.get(job_id)
        if job is None:
            return Settled(Change.IGNORED, job_id, "no such job")
        if JobStatus(job["status"]) in TERMINAL:
            return Settled(Change.IGNORED, job_id, f"job already {job['status']}")
        if not self._jobs.transition(job_id, JobStatus.CANCELLED, {"status_reason": reason, "finished_at": utc_now()}):
            return Settled(Change.IGNORED, job_id, "job changed state meanwhile; try again")
        if job.get("task_arn"):
            self._tasks.stop(job["task_arn"], reason)
        self._jobs.release_slot(job_id)
        return Settled(Change.CANCELLED, job_id, reason)

    # --- reconcile ------------------------------------------------------------------------

    def reconcile(
        self, *, max_task_duration: timedelta, stale_claim: timedelta = timedelta(minutes=15)
    ) -> list[Settled]:
        """Settle what events missed: vanished or stopped tasks, overlong tasks, leaked slots,
        and interrupted jobs whose re-queue message never left (``stale_claim`` after it)."""
        settled: list[Settled] = []
        active = [*self._jobs.jobs_with_status(JobStatus.LAUNCHED), *self._jobs.jobs_with_status(JobStatus.RUNNING)]
        described = self._tasks.describe([job["task_arn"] for job in active if job.get("task_arn")])
        now = datetime.now(UTC)
        for job in active:
            task = described.get(job.get("task_arn", ""))
            if task is None:
                settled.append(self._settle_vanished(job))
            elif task["lastStatus"] == "STOPPED":
                # ECS gives every stopped task a stopCode; without one the description is not
                # complete yet, and the task's own STOPPED event will settle the job.
                if task.get("stopCode"):
                    settled.append(self.on_task_state(TaskState.from_ecs(task)))
            elif now - _parse(job.get("started_at") or job["launched_at"]) > max_task_duration:
                settled.append(self._time_out(job, max_task_duration))

        live = {job["job_id"] for job in active}
        for holder in self._jobs.slot_holders() - live:
            holder_job = self._jobs.get(holder)
            claim_in_flight = (
                holder_job is not None
                and holder_job["status"] in (JobStatus.RECEIVED, JobStatus.LAUNCHED, JobStatus.RUNNING)
                and now - _parse(holder_job["updated_at"]) < stale_claim
            )
            if not claim_in_flight:
                self._jobs.release_slot(holder)
                settled.append(Settled(Change.IGNORED, holder, "leaked slot freed"))

        for job in self._jobs.jobs_with_status(JobStatus.INTERRUPTED):
            if now - _parse(job["updated_at"]) > stale_claim:
                # Sent again at worst: the consumer launches each attempt once.
                self._requeue(job, next_attempt=int(job.get("attempts", 1)) + 1)
                settled.append(Settled(Change.INTERRUPTED, job["job_id"], "re-queued again"))
        return settled

    def _settle_vanished(self, job: dict[str, Any]) -> Settled:
        moved = self._jobs.transition(
            job["job_id"],
            JobStatus.FAILED,
            {"status_reason": TASK_GONE, "finished_at": utc_now()},
            condition="task_arn = :arn",
            condition_values={":arn": job.get("task_arn")},
        )
        self._jobs.release_slot(job["job_id"])
        return Settled(Change.FAILED if moved else Change.IGNORED, job["job_id"], TASK_GONE)

    def _time_out(self, job: dict[str, Any], limit: timedelta) -> Settled:
        reason = f"timed out: ran longer than {int(limit.total_seconds() // 60)} minutes"
        moved = self._jobs.transition(
            job["job_id"],
            JobStatus.FAILED,
            {"status_reason": reason, "finished_at": utc_now()},
            condition="task_arn = :arn",
            condition_values={":arn": job["task_arn"]},
        )
        if moved:
            self._tasks.stop(job["task_arn"], reason)
            self._jobs.release_slot(job["job_id"])
        return Settled(Change.FAILED if moved else Change.IGNORED, job["job_id"], reason)


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)
