"""Job states and the transitions between them (DESIGN section 5).

The job table enforces this graph with conditional writes: a write names the state it moves
to, and the table accepts it only from one of ``PREDECESSORS[target]``. A late or duplicated
event therefore never moves a job backwards.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum


class JobStatus(StrEnum):
    RECEIVED = "RECEIVED"  # claimed by a consumer, holds a slot, not yet launched
    REJECTED = "REJECTED"  # the request broke a rule; never retried
    DEFERRED = "DEFERRED"  # the concurrency cap was reached; the request was re-sent with a delay
    LAUNCHED = "LAUNCHED"  # RunTask returned a task
    RUNNING = "RUNNING"  # the task's container is running
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"  # Spot took the task back; re-queued for another attempt
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({JobStatus.REJECTED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# A job that may (still) be launched: new, deferred, re-queued after an interruption,
# RECEIVED when an earlier delivery stopped between claim and launch (RunTask's clientToken
# then returns the task that delivery may have started), or REJECTED and sent again fixed.
LAUNCHABLE = frozenset({JobStatus.RECEIVED, JobStatus.DEFERRED, JobStatus.INTERRUPTED, JobStatus.REJECTED})

PREDECESSORS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.RECEIVED: LAUNCHABLE,
    JobStatus.DEFERRED: LAUNCHABLE,
    JobStatus.LAUNCHED: frozenset({JobStatus.RECEIVED}),
    # Task events may overtake the consumer's LAUNCHED write, so they also apply to RECEIVED.
    JobStatus.RUNNING: frozenset({JobStatus.RECEIVED, JobStatus.LAUNCHED}),
    JobStatus.SUCCEEDED: frozenset({JobStatus.RECEIVED, JobStatus.LAUNCHED, JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.RECEIVED, JobStatus.LAUNCHED, JobStatus.RUNNING, JobStatus.INTERRUPTED}),
    JobStatus.INTERRUPTED: frozenset({JobStatus.RECEIVED, JobStatus.LAUNCHED, JobStatus.RUNNING}),
    JobStatus.CANCELLED: frozenset(
        {JobStatus.RECEIVED, JobStatus.DEFERRED, JobStatus.LAUNCHED, JobStatus.RUNNING, JobStatus.INTERRUPTED}
    ),
}


SPOT = "FARGATE_SPOT"
ON_DEMAND = "FARGATE"


def client_token(job_id: str, attempt: int, capacity_provider: str = SPOT) -> str:
    """RunTask's idempotency token: the job id for a first Spot attempt, else a digest.

    ECS caps the token at 64 characters, as long as a job id may be, so another attempt or
    the on-demand fallback cannot append to the id; a sha256 hex digest is exactly 64.
    """
    if attempt == 1 and capacity_provider == SPOT:
        return job_id
    return hashlib.sha256(f"{job_id}#{attempt}#{capacity_provider}".encode()).hexdigest()


def utc_now(moment: datetime | None = None) -> str:
    """The timestamp format of the job table: ISO-8601 UTC with milliseconds and a Z, so
    timestamps sort as strings (the status index sorts by received_at)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
