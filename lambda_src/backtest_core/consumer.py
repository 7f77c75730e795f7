"""One SQS message in, one outcome out: the consumer's domain logic (DESIGN section 4).

Exactly one task per job rests on two things. The claim is a conditional write that makes one
delivery the job's claimant until it launches the job, lets go after a failed launch, or its
lease (the Lambda timeout) ends; any other delivery meanwhile, or after launch, is a duplicate.
And RunTask carries a clientToken derived from the job id and attempt, so a redelivery after a
crash between RunTask and the LAUNCHED write (it comes back after the lease) gets the same task.
The concurrency slot is taken in the same write as the claim and freed only by its claimant
(after a failed launch) or when the task stops, so two deliveries can never hold one slot twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from backtest_core.ports import ClaimOutcome, JobTable, LaunchError, RequestQueue, TaskLauncher
from backtest_core.request import FieldError, RequestRejected, derived_job_id, parse_request

BODY_EXCERPT_CHARS = 1024


@dataclass(frozen=True)
class IncomingMessage:
    message_id: str
    body: str
    attempt: int = 1  # > 1 when the task-events handler re-queued an interrupted job
    redelivered: bool = False  # SQS delivered this message before (ApproximateReceiveCount > 1)


class Outcome(StrEnum):
    LAUNCHED = "LAUNCHED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"
    DEFERRED = "DEFERRED"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    job_id: str
    detail: str = ""


class Consumer:
    """Validates, claims, launches; raises ``LaunchError`` when the message should be retried."""

    def __init__(
        self,
        *,
        jobs: JobTable,
        launcher: TaskLauncher,
        queue: RequestQueue,
        max_concurrent_tasks: int,
        defer_delay_seconds: int,
        claim_lease_seconds: int = 300,
    ) -> None:
        self._jobs = jobs
        self._launcher = launcher
        self._queue = queue
        self._cap = max_concurrent_tasks
        self._defer_delay = defer_delay_seconds
        self._lease = claim_lease_seconds

    def consume(self, message: IncomingMessage) -> Result:
        try:
            request = parse_request(message.body, message_id=message.message_id)
        except RequestRejected as rejected:
            return self._reject(message, rejected)

        claimant = uuid.uuid4().hex  # this delivery; a twin of it is another claimant
        claim = self._jobs.claim(
            request,
            attempt=message.attempt,
            message_id=message.message_id,
            cap=self._cap,
            claimant=claimant,
            lease_seconds=self._lease,
        )
        if claim.outcome is ClaimOutcome.NOT_LAUNCHABLE:
            # Also when another delivery holds the claim: its own message stays in the queue
            # until it has launched the job, so deleting this one loses nothing.
            return Result(Outcome.DUPLICATE, request.job_id, f"job is already {claim.existing_status}")
        if claim.outcome is ClaimOutcome.CAP_REACHED:
            if not self._jobs.defer(request, message_id=message.message_id, attempt=message.attempt):
                return Result(Outcome.DUPLICATE, request.job_id, "job moved past launch while deferring")
            # The re-sent body names the job id, so the next delivery resumes this job.
            self._queue.send(request.to_message(), delay_seconds=self._defer_delay, attempt=message.attempt)
            return Result(Outcome.DEFERRED, request.job_id, f"all {self._cap} slots are taken")

        try:
            task = self._launcher.launch(request.job_id, attempt=message.attempt, redelivered=message.redelivered)
        except LaunchError as error:
            # Free the slot for others; the redelivery claims it again and RunTask's token
            # returns the same task if this launch did go through.
            self._jobs.abandon_launch(request.job_id, claimant=claimant, detail=str(error))
            raise
        if not self._jobs.record_launch(request.job_id, task, attempt=message.attempt):
            return Result(Outcome.DUPLICATE, request.job_id, f"a twin delivery launched {task.task_arn}")
        return Result(Outcome.LAUNCHED, request.job_id, task.task_arn)

    def _reject(self, message: IncomingMessage, rejected: RequestRejected) -> Result:
        """Record the rejection under the stated job id, else under an id derived from the
        message; an id that already belongs to another job is never overwritten."""
        excerpt = message.body[:BODY_EXCERPT_CHARS]
        errors = rejected.errors
        candidates = [
            rejected.job_id,
            derived_job_id(message.message_id),
            derived_job_id(f"{message.message_id}#rejected"),  # the derived id was stated by another job
        ]
        for job_id in dict.fromkeys(c for c in candidates if c):
            if self._jobs.reject(job_id, errors, message_id=message.message_id, body_excerpt=excerpt):
                return Result(Outcome.REJECTED, job_id, "; ".join(f"{e.field}: {e.rule}" for e in errors))
            if job_id == rejected.job_id:
                errors = [*errors, FieldError("job_id", f"{job_id!r} already belongs to another job")]
        raise RuntimeError(f"no free job id to record the rejection of message {message.message_id} under")
