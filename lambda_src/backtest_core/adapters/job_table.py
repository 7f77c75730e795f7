"""The job table in DynamoDB (DESIGN section 5): job records, state transitions as conditional
writes, and the concurrency-slot record.

The slot record lives in the same table under a key no job id can take (job ids start with a
letter or digit). It holds the set of job ids that own a slot, so taking and freeing a slot is
idempotent per job and the cap holds exactly across concurrent consumers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from backtest_core.jobs import PREDECESSORS, JobStatus, utc_now
from backtest_core.ports import Claim, ClaimOutcome, LaunchedTask
from backtest_core.request import BacktestRequest, FieldError

SLOT_RECORD_KEY = "#concurrency-slots"
STATUS_INDEX = "by-status"
_CONFLICT_RETRIES = 8

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_ddb(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def _from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _assignments(
    fields: dict[str, Any], *, keep_if_present: tuple[str, ...] = (), remove: tuple[str, ...] = ()
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """An UpdateExpression setting ``fields`` (and removing ``remove``), with every attribute
    name behind a placeholder: many plain words (status, request, ttl) are reserved."""
    names = {f"#f{i}": key for i, key in enumerate(fields)}
    values = {f":v{i}": value for i, value in enumerate(fields.values())}
    assignments = [
        f"#f{i} = if_not_exists(#f{i}, :v{i})" if key in keep_if_present else f"#f{i} = :v{i}"
        for i, key in enumerate(fields)
    ]
    update = "SET " + ", ".join(assignments)
    if remove:
        names.update({f"#r{i}": key for i, key in enumerate(remove)})
        update += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    return update, names, values


class DynamoJobTable:
    """Every read and write of the job table goes through here."""

    def __init__(self, client: Any, table_name: str, *, ttl_days: int = 90) -> None:
        self._ddb = client
        self._table = table_name
        self._ttl = timedelta(days=ttl_days)

    # --- consumer ------------------------------------------------------------------------

    def claim(
        self, request: BacktestRequest, *, attempt: int, message_id: str, cap: int, claimant: str, lease_seconds: int
    ) -> Claim:
        now = utc_now()
        lease_ends = utc_now(datetime.now(UTC) + timedelta(seconds=lease_seconds))
        update, names, values = _assignments(
            {
                "status": JobStatus.RECEIVED.value,
                "claimant": claimant,
                "claim_expires": lease_ends,
                "pending_attempt": attempt,
                "message_id": message_id,
                "updated_at": now,
                "request": request.to_record(),
                "priority": request.priority,
                "received_at": now,
                "attempts": 0,
                "ttl": self._ttl_epoch(),
                **self._optional_fields(request),
            },
            keep_if_present=(
                "request",
                "priority",
                "received_at",
                "attempts",
                "ttl",
                "experiment_name",
                "submitted_at",
            ),
            # A resumed job starts its next task afresh: the last attempt's task is history, and
            # a fixed resubmission of a rejected job drops the old errors.
            remove=("task_arn", "task_version", "launched_at", "errors", "body_excerpt"),
        )
        not_older = "(attribute_not_exists(#pending) OR #pending <= :attempt)"
        job_update = {
            "Update": {
                "TableName": self._table,
                "Key": _to_ddb({"job_id": request.job_id}),
                "UpdateExpression": update,
                # One delivery at a time: a RECEIVED job is another delivery's until its lease ends
                # (that delivery finished, failed and let go, or died). A waiting job is never
                # taken by a message of an earlier attempt than the one it waits to launch (a
                # late copy of it would get that attempt's old task back from RunTask's token).
                # An interrupted job is launchable only by the re-queued message of its next attempt.
                "ConditionExpression": (
                    "attribute_not_exists(job_id) "
                    f"OR (#status IN (:deferred, :rejected) AND {not_older}) "
                    f"OR (#status = :received AND (attribute_not_exists(#lease) OR #lease < :now) AND {not_older}) "
                    "OR (#status = :interrupted AND attempts < :attempt)"
                ),
                "ExpressionAttributeNames": {
                    **names,
                    "#status": "status",
                    "#lease": "claim_expires",
                    "#pending": "pending_attempt",
                },
                "ExpressionAttributeValues": _to_ddb(
                    {
                        **values,
                        ":received": JobStatus.RECEIVED.value,
                        ":deferred": JobStatus.DEFERRED.value,
                        ":rejected": JobStatus.REJECTED.value,
                        ":interrupted": JobStatus.INTERRUPTED.value,
                        ":attempt": attempt,
                        ":now": now,
                    }
                ),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        slot_take = {
            "Update": {
                "TableName": self._table,
                "Key": _to_ddb({"job_id": SLOT_RECORD_KEY}),
                "UpdateExpression": "ADD holders :job_set",
                "ConditionExpression": (
                    "attribute_not_exists(holders) OR size(holders) < :cap OR contains(holders, :job_id)"
                ),
                "ExpressionAttributeValues": _to_ddb(
                    {":job_set": {request.job_id}, ":cap": cap, ":job_id": request.job_id}
                ),
            }
        }
        for retry in range(_CONFLICT_RETRIES):
            try:
                self._ddb.transact_write_items(TransactItems=[job_update, slot_take])
                return Claim(ClaimOutcome.CLAIMED)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                job_reason, slot_reason = (r.get("Code") for r in error.response.get("CancellationReasons", []))
                if job_reason == "ConditionalCheckFailed":
                    old = _from_ddb(error.response["CancellationReasons"][0].get("Item", {}))
                    return Claim(ClaimOutcome.NOT_LAUNCHABLE, JobStatus(old["status"]) if old else None)
                if slot_reason == "ConditionalCheckFailed":
                    return Claim(ClaimOutcome.CAP_REACHED)
                if "TransactionConflict" not in (job_reason, slot_reason) or retry == _CONFLICT_RETRIES - 1:
                    raise
                # Concurrent consumers touched the slot record at once: back off and try again.
                time.sleep(random.uniform(0.01, 0.05) * (retry + 1))
        raise AssertionError("unreachable")

    def record_launch(self, job_id: str, task: LaunchedTask, *, attempt: int) -> bool:
        launch = {
            "task_arn": task.task_arn,
            "capacity_provider": task.capacity_provider,
            "launched_at": utc_now(),
            "attempts": attempt,
        }
        if self.transition(job_id, JobStatus.LAUNCHED, launch, remove=("status_reason", "claimant", "claim_expires")):
            return True
        # The job moved on without us: a task event may have overtaken this write (then the
        # launch is still ours to record), or a twin delivery recorded it (then we are late).
        update, names, values = _assignments({**launch, "updated_at": utc_now()})
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_to_ddb({"job_id": job_id}),
                UpdateExpression=update,
                ConditionExpression="#arn = :arn AND attribute_not_exists(#launched)",
                ExpressionAttributeNames={**names, "#arn": "task_arn", "#launched": "launched_at"},
                ExpressionAttributeValues=_to_ddb({**values, ":arn": task.task_arn}),
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def abandon_launch(self, job_id: str, *, claimant: str, detail: str) -> None:
        """After a failed launch: note why, let go of the claim and free the slot, all only while
        the job is still this claimant's and unlaunched."""
        update, names, values = _assignments(
            {"status_reason": f"launch failed: {detail}"[:1000], "updated_at": utc_now()},
            remove=("claimant", "claim_expires"),
        )
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _to_ddb({"job_id": job_id}),
                            "UpdateExpression": update,
                            "ConditionExpression": "#status = :received AND #claimant = :claimant",
                            "ExpressionAttributeNames": {**names, "#status": "status", "#claimant": "claimant"},
                            "ExpressionAttributeValues": _to_ddb(
                                {**values, ":received": JobStatus.RECEIVED.value, ":claimant": claimant}
                            ),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _to_ddb({"job_id": SLOT_RECORD_KEY}),
                            "UpdateExpression": "DELETE holders :job_set",
                            "ExpressionAttributeValues": _to_ddb({":job_set": {job_id}}),
                        }
                    },
                ]
            )
        except ClientError as error:
            reasons = error.response.get("CancellationReasons", [])
            if not (reasons and reasons[0].get("Code") == "ConditionalCheckFailed"):
                raise

    def release_slot(self, job_id: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=_to_ddb({"job_id": SLOT_RECORD_KEY}),
            UpdateExpression="DELETE holders :job_set",
            ExpressionAttributeValues=_to_ddb({":job_set": {job_id}}),
        )

    def defer(self, request: BacktestRequest, *, message_id: str, attempt: int) -> bool:
        now = utc_now()
        return self.transition(
            request.job_id,
            JobStatus.DEFERRED,
            {
                "request": request.to_record(),
                "priority": request.priority,
                "message_id": message_id,
                "received_at": now,
                "status_reason": "concurrency cap reached; re-sent with a delay",
                "pending_attempt": attempt,
                "ttl": self._ttl_epoch(),
                **self._optional_fields(request),
            },
            create=True,
            keep_if_present=("request", "received_at", "ttl"),
            remove=("errors", "body_excerpt"),
            # What the claim requires, checked again: between this delivery's failed claim and
            # this write, another delivery may have claimed the job, or moved it to a later attempt.
            condition=(
                "(#status <> :received OR attribute_not_exists(claim_expires) OR claim_expires < :now) "
                "AND (#status <> :interrupted OR attempts < :attempt) "
                "AND (#status = :interrupted OR attribute_not_exists(pending_attempt) OR pending_attempt <= :attempt)"
            ),
            condition_values={
                ":received": JobStatus.RECEIVED.value,
                ":interrupted": JobStatus.INTERRUPTED.value,
                ":now": now,
                ":attempt": attempt,
            },
        )

    def reject(self, job_id: str, errors: list[FieldError], *, message_id: str, body_excerpt: str) -> bool:
        item = {
            "job_id": job_id,
            "status": JobStatus.REJECTED.value,
            "status_reason": "invalid request",
            "errors": [e.as_dict() for e in errors],
            "message_id": message_id,
            "body_excerpt": body_excerpt,
            "received_at": utc_now(),
            "updated_at": utc_now(),
            "ttl": self._ttl_epoch(),
        }
        try:
            # A redelivered invalid message rewrites its own rejection; it never overwrites a job.
            self._ddb.put_item(
                TableName=self._table,
                Item=_to_ddb(item),
                ConditionExpression="attribute_not_exists(job_id) OR #status = :rejected",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_to_ddb({":rejected": JobStatus.REJECTED.value}),
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    # --- shared by every process --------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(TableName=self._table, Key=_to_ddb({"job_id": job_id}), ConsistentRead=True)
        return _from_ddb(response["Item"]) if "Item" in response else None

    def transition(
        self,
        job_id: str,
        target: JobStatus,
        fields: dict[str, Any] | None = None,
        *,
        remove: tuple[str, ...] = (),
        condition: str = "",
        condition_values: dict[str, Any] | None = None,
        create: bool = False,
        keep_if_present: tuple[str, ...] = (),
    ) -> bool:
        """Move a job to ``target`` if its current state allows it; False otherwise.

        ``condition`` adds to the state check (e.g. "attempts = :attempt"), with its values;
        ``create`` also accepts a job that does not exist yet; ``keep_if_present`` names
        fields an existing record keeps.
        """
        update, names, values = _assignments(
            {**(fields or {}), "status": target.value, "updated_at": utc_now()},
            keep_if_present=keep_if_present,
            remove=remove,
        )
        allowed = sorted(PREDECESSORS[target])
        names["#status"] = "status"
        values.update({f":from{i}": status.value for i, status in enumerate(allowed)})
        values.update(condition_values or {})
        check = f"#status IN ({', '.join(f':from{i}' for i in range(len(allowed)))})"
        if condition:
            check = f"{check} AND ({condition})"
        if create:
            check = f"attribute_not_exists(job_id) OR ({check})"
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_to_ddb({"job_id": job_id}),
                UpdateExpression=update,
                ConditionExpression=check,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_ddb(values),
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def slot_holders(self) -> set[str]:
        item = self.get(SLOT_RECORD_KEY) or {}
        return set(item.get("holders", set()))

    def jobs_with_status(self, status: JobStatus, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Jobs in one state, newest first, from the status index."""
        paginator = self._ddb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_ddb({":status": status.value}),
            ScanIndexForward=False,
            PaginationConfig={"MaxItems": limit} if limit else {},
        )
        for page in pages:
            for item in page["Items"]:
                yield _from_ddb(item)

    # --- helpers ------------------------------------------------------------------------

    def _ttl_epoch(self) -> int:
        return int((datetime.now(UTC) + self._ttl).timestamp())

    @staticmethod
    def _optional_fields(request: BacktestRequest) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if request.experiment_name:
            fields["experiment_name"] = request.experiment_name
        if request.submitted_at:
            fields["submitted_at"] = request.to_record()["submitted_at"]
        return fields
