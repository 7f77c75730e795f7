"""What the domain needs from the outside world. Adapters in ``backtest_core.adapters``
implement these over boto3 clients; tests may hand in fakes or moto-backed adapters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from backtest_core.jobs import JobStatus
from backtest_core.request import BacktestRequest, FieldError


class ClaimOutcome(StrEnum):
    CLAIMED = "CLAIMED"  # the job is ours to launch and holds a concurrency slot
    NOT_LAUNCHABLE = "NOT_LAUNCHABLE"  # launched or done already, or another delivery is launching it
    CAP_REACHED = "CAP_REACHED"  # every slot is held by another job


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    existing_status: JobStatus | None = None


@dataclass(frozen=True)
class LaunchedTask:
    task_arn: str
    capacity_provider: str


class LaunchError(Exception):
    """RunTask did not give us a task. ``category`` is low-cardinality (for logs and alarms)."""

    def __init__(self, category: str, detail: str, *, job_id: str) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail
        self.job_id = job_id


class JobTable(Protocol):
    def claim(
        self, request: BacktestRequest, *, attempt: int, message_id: str, cap: int, claimant: str, lease_seconds: int
    ) -> Claim:
        """Create or resume the job and take a slot for it, atomically; the job is then the
        claimant's until it is launched, let go, or the lease ends."""

    def record_launch(self, job_id: str, task: LaunchedTask, *, attempt: int) -> bool:
        """Record the job's task; False when a twin delivery recorded this launch first."""

    def abandon_launch(self, job_id: str, *, claimant: str, detail: str) -> None:
        """Note the launch error, let go of the claim and free the slot, while the claim is ours."""

    def defer(self, request: BacktestRequest, *, message_id: str, attempt: int) -> bool:
        """Mark the job DEFERRED; False when it has moved past launch meanwhile."""

    def reject(self, job_id: str, errors: list[FieldError], *, message_id: str, body_excerpt: str) -> bool:
        """Record a REJECTED job; False when ``job_id`` already belongs to another job."""


class JobRecords(Protocol):
    """Reading and moving jobs after launch (task events, reconciler, CLI)."""

    def get(self, job_id: str) -> dict[str, Any] | None: ...

    def transition(
        self,
        job_id: str,
        target: JobStatus,
        fields: dict[str, Any] | None = None,
        *,
        remove: tuple[str, ...] = (),
        condition: str = "",
        condition_values: dict[str, Any] | None = None,
    ) -> bool: ...

    def release_slot(self, job_id: str) -> None: ...

    def slot_holders(self) -> set[str]: ...

    def jobs_with_status(self, status: JobStatus, *, limit: int | None = None) -> Iterator[dict[str, Any]]: ...


class TaskControl(Protocol):
    def describe(self, task_arns: list[str]) -> dict[str, dict[str, Any]]:
        """The tasks ECS still knows, by ARN; a missing ARN is a task that is gone."""

    def stop(self, task_arn: str, reason: str) -> None: ...


class TaskLauncher(Protocol):
    def launch(self, job_id: str, *, attempt: int, redelivered: bool = False) -> LaunchedTask:
        """Start the job's task or raise ``LaunchError``; idempotent per (job, attempt), also
        for a ``redelivered`` message whose earlier delivery may have launched it."""


class RequestQueue(Protocol):
    def send(self, message: dict[str, Any], *, delay_seconds: int, attempt: int) -> None: ...
