"""The job as the runner sees it: the normalized request read from the job table, and the few
writes the runner makes there (RUNNING, summary, result location, failure reason).

The runner never sets an end state: the task-events Lambda decides SUCCEEDED/FAILED/INTERRUPTED
from the exit code. Its other writes leave ``status`` alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

STRATEGY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"


class InvalidJob(Exception):
    """The job cannot run as stored (missing, malformed, or already finished)."""


class JobRequest(BaseModel):
    """The ``request`` map of a job item (written by the consumer; DESIGN section 3)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    strategy: str = Field(pattern=STRATEGY_PATTERN)
    timeframe: str
    start_date: date | None = None
    end_date: date | None = None
    symbols: tuple[str, ...] = Field(min_length=1)
    trading_mode: Literal["spot", "futures"]
    stoploss: float | None = Field(default=None, gt=-1, lt=0)
    stake_amount: float = Field(gt=0)
    experiment_name: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> JobRequest:
        record = item.get("request")
        if not isinstance(record, dict):
            raise InvalidJob(f"job {item.get('job_id')} has no request map")
        try:
            return cls.model_validate(record)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise InvalidJob(f"invalid request: {problems}") from None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_dynamo_value(value: Any) -> Any:
    """DynamoDB rejects floats: numbers become Decimal(str(x)); NaN/inf (e.g. a sharpe of a flat run) are dropped."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        converted = {key: to_dynamo_value(item) for key, item in value.items()}
        return {key: item for key, item in converted.items() if item is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo_value(item) for item in value]
    return value


class JobTable:
    """The runner's reads and writes of the job table (a boto3 DynamoDB client underneath)."""

    def __init__(self, client: Any, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._ddb = client
        self._table = table_name
        self._serialize = TypeSerializer().serialize
        self._deserialize = TypeDeserializer().deserialize

    def load(self, job_id: str) -> dict[str, Any]:
        response = self._ddb.get_item(TableName=self._table, Key=self._key(job_id), ConsistentRead=True)
        if "Item" not in response:
            raise InvalidJob(f"job {job_id} is not in table {self._table}")
        return {key: self._deserialize(value) for key, value in response["Item"].items()}

    def mark_running(self, job_id: str) -> None:
        """RECEIVED/LAUNCHED -> RUNNING; a job already RUNNING (the task event came first) is fine."""
        from botocore.exceptions import ClientError

        now = utc_now()
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="SET #status = :running, started_at = :now, updated_at = :now",
                ConditionExpression="#status IN (:received, :launched)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=self._values(
                    {":running": "RUNNING", ":received": "RECEIVED", ":launched": "LAUNCHED", ":now": now}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            status = self.load(job_id).get("status")
            if status != "RUNNING":
                raise InvalidJob(f"job {job_id} is {status}; only a RECEIVED, LAUNCHED or RUNNING job runs") from None

    def record(self, job_id: str, fields: dict[str, Any]) -> None:
        """Set attributes without touching ``status`` (summary, result_uri, runner_reason...)."""
        fields = {**fields, "updated_at": utc_now()}
        self._ddb.update_item(
            TableName=self._table,
            Key=self._key(job_id),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeNames={f"#f{i}": name for i, name in enumerate(fields)},
            ExpressionAttributeValues=self._values({f":v{i}": value for i, value in enumerate(fields.values())}),
        )

    def _key(self, job_id: str) -> dict[str, Any]:
        return {"job_id": self._serialize(job_id)}

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: self._serialize(to_dynamo_value(value)) for name, value in values.items()}
