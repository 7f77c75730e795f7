"""The backtest request: parsing an SQS body and normalizing both formats to one model.

Every rule here is a contract other parts rely on (DESIGN section 3): the strategy name
reaches a command line and a file path, the job id becomes an ECS clientToken, an S3 prefix
and a table key. A violation is reported as a list of ``FieldError`` (field + rule), never
an exception the caller has to guess at.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

MAX_BODY_BYTES = 64 * 1024
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
STRATEGY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
EXPERIMENT_PATTERN = r"^[A-Za-z0-9 ._-]{1,128}$"
_PAIR = re.compile(r"[A-Z0-9]+/[A-Z0-9]+(?::[A-Z0-9]+)?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_JOB_ID = re.compile(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"))
# DynamoDB stores numbers of magnitude 1e-130 to 1e126; a request stays well inside that.
STORABLE_MAGNITUDE = (1e-100, 1e100)
MAX_STORED_ERRORS = 50

DEFAULT_TIMEFRAME = "1h"
DEFAULT_SYMBOLS = ("BTC/USDT:USDT",)
DEFAULT_STAKE_AMOUNT = 1000.0


@dataclass(frozen=True)
class FieldError:
    """One broken rule: ``field`` is spelled as the sender wrote it (``config.stoploss``)."""

    field: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule}


class RequestRejected(Exception):
    """The body cannot become a backtest; ``errors`` lists every rule it breaks."""

    def __init__(self, errors: list[FieldError], job_id: str | None = None) -> None:
        super().__init__("; ".join(f"{e.field}: {e.rule}" for e in errors))
        self.errors = errors
        self.job_id = job_id


class BacktestRequest(BaseModel):
    """The normalized request every part of the pipeline works with."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    strategy: str
    timeframe: str
    symbols: tuple[str, ...]
    trading_mode: Literal["spot", "futures"]
    stake_amount: float
    priority: int
    # Optional: the stored record (``to_record``) leaves them out when absent.
    start_date: date | None = None
    end_date: date | None = None
    stoploss: float | None = None
    experiment_name: str | None = None
    submitted_at: datetime | None = None

    def to_record(self) -> dict[str, Any]:
        """The form stored in the job table (and read by the runner): absent values left out,
        numbers as ``Decimal`` because DynamoDB rejects floats."""
        record = self.model_dump(mode="json", exclude_none=True)
        for key in ("stoploss", "stake_amount"):
            if key in record:
                record[key] = Decimal(str(record[key]))
        return record

    def to_message(self) -> dict[str, Any]:
        """The nested wire form, with the job id fixed (used to re-send a deferred job)."""
        config: dict[str, Any] = {
            "strategy": self.strategy,
            "timeframe": self.timeframe,
            "symbols": list(self.symbols),
            "stake_amount": self.stake_amount,
        }
        if self.start_date:
            config["start_date"] = self.start_date.isoformat()
        if self.end_date:
            config["end_date"] = self.end_date.isoformat()
        if self.stoploss is not None:
            config["stoploss"] = self.stoploss
        message: dict[str, Any] = {"job_id": self.job_id, "config": config, "priority": self.priority}
        if self.experiment_name:
            message["experiment_name"] = self.experiment_name
        if self.submitted_at:
            message["submitted_at"] = self.submitted_at.isoformat().replace("+00:00", "Z")
        return message


# --- wire models: exactly the keys a sender may use, strict about types --------------------

# Strict: JSON integers are fine, booleans and numeric strings are not; NaN and infinities neither.
FiniteNumber = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class _Config(BaseModel):
    """Fields shared by the nested ``config`` object and the legacy flat body."""

    model_config = ConfigDict(extra="forbid")

    timeframe: StrictStr = DEFAULT_TIMEFRAME
    start_date: StrictStr | None = None
    end_date: StrictStr | None = None
    symbols: list[StrictStr] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    stoploss: FiniteNumber | None = None
    stake_amount: FiniteNumber = DEFAULT_STAKE_AMOUNT

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if value in TIMEFRAMES:
            return value
        # 1H/4H/1D/1W are unambiguous; an upper-case M is a month, so "1M" never folds to minutes.
        if value[-1:] in ("H", "D", "W") and value.lower() in TIMEFRAMES:
            return value.lower()
        raise ValueError(f"must be one of {', '.join(TIMEFRAMES)}")

    @field_validator("start_date")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        start = _as_day(value)
        today = datetime.now(UTC).date()
        if start and start > today:
            raise ValueError(f"must not be after today ({today.isoformat()}, UTC)")
        return value

    @field_validator("end_date")
    @classmethod
    def _end(cls, value: str | None, info: ValidationInfo) -> str | None:
        end = _as_day(value)
        start = _as_day(info.data.get("start_date"))
        if start and end and not start < end:
            raise ValueError("must be after start_date")
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        if end and end > tomorrow:
            raise ValueError(f"must not be after tomorrow ({tomorrow.isoformat()}, UTC)")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= 50:
            raise ValueError("must list 1 to 50 pairs")
        bad = [s for s in value if not _PAIR.fullmatch(s)]
        if bad:
            raise ValueError(
                f"{', '.join(repr(s) for s in bad[:5])} not BASE/QUOTE or BASE/QUOTE:SETTLE "
                "in upper-case letters and digits"
            )
        duplicates = sorted({s for s in value if value.count(s) > 1})
        if duplicates:
            raise ValueError(f"must be unique; repeated: {', '.join(duplicates)}")
        if len({":" in s for s in value}) > 1:
            raise ValueError("must be all spot (BASE/QUOTE) or all futures (BASE/QUOTE:SETTLE), not mixed")
        return value

    @field_validator("stoploss")
    @classmethod
    def _stoploss(cls, value: float | None) -> float | None:
        if value is not None and not -1 < value < 0:
            raise ValueError("must be a number between -1 and 0, both exclusive (e.g. -0.05)")
        return _storable(value)

    @field_validator("stake_amount")
    @classmethod
    def _stake(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be greater than 0")
        return _storable(value)


def _storable(value: float | None) -> Any:
    low, high = STORABLE_MAGNITUDE
    if value is not None and not low <= abs(value) <= high:
        raise ValueError(f"must have a magnitude from {low:g} to {high:g} (what the job table can store)")
    return value


def _as_day(value: str | None) -> date | None:
    if value is None:
        return None
    if not _DAY.fullmatch(value):
        raise ValueError("must be a UTC day written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real calendar day (YYYY-MM-DD)") from None


class _Envelope(BaseModel):
    """Fields around the config, the same in both formats."""

    model_config = ConfigDict(extra="forbid")

    job_id: Annotated[StrictStr, Field(pattern=JOB_ID_PATTERN)] | None = None
    experiment_name: Annotated[StrictStr, Field(pattern=EXPERIMENT_PATTERN)] | None = None
    priority: Annotated[StrictInt, Field(ge=0, le=9)] = 0
    submitted_at: StrictStr | None = None

    @field_validator("submitted_at")
    @classmethod
    def _submitted_at(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO-8601 timestamp with a time zone, e.g. 2024-01-01T00:00:00Z") from None
        if parsed.tzinfo is None:
            raise ValueError("must carry a time zone (e.g. a trailing Z for UTC)")
        try:
            return parsed.astimezone(UTC).isoformat()
        except OverflowError:
            raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


class _NestedBody(_Envelope):
    config: _NestedConfig


class _NestedConfig(_Config):
    strategy: Annotated[StrictStr, Field(pattern=STRATEGY_PATTERN)]


class _FlatBody(_Envelope, _Config):
    strategy_name: Annotated[StrictStr, Field(pattern=STRATEGY_PATTERN)]


_NestedBody.model_rebuild()


# --- parsing --------------------------------------------------------------------------------


def derived_job_id(message_id: str) -> str:
    """A job id that a redelivery of the same SQS message maps to again."""
    return "m-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


def parse_request(body: str | bytes, *, message_id: str) -> BacktestRequest:
    """Turn an SQS body into a ``BacktestRequest`` or raise ``RequestRejected`` with every error."""
    document = _decode_body(body)
    job_id = _stated_job_id(document)
    if "config" in document and "strategy_name" in document:
        raise RequestRejected(
            [FieldError("body", "has both 'config' (nested form) and 'strategy_name' (flat form); use one")], job_id
        )
    if "config" not in document and "strategy_name" not in document:
        raise RequestRejected(
            [FieldError("body", "needs 'config' (nested form) or 'strategy_name' (legacy flat form)")], job_id
        )
    nested = "config" in document
    try:
        if nested:
            wire = _NestedBody.model_validate(document)
            config: _Config = wire.config
            strategy = wire.config.strategy
            envelope: _Envelope = wire
        else:
            flat = _FlatBody.model_validate(document)
            config, envelope, strategy = flat, flat, flat.strategy_name
    except ValidationError as exc:
        raise RequestRejected(_field_errors(exc), job_id) from None

    return BacktestRequest(
        job_id=envelope.job_id or derived_job_id(message_id),
        strategy=strategy,
        timeframe=config.timeframe,
        start_date=date.fromisoformat(config.start_date) if config.start_date else None,
        end_date=date.fromisoformat(config.end_date) if config.end_date else None,
        symbols=tuple(config.symbols),
        trading_mode="futures" if ":" in config.symbols[0] else "spot",
        stoploss=float(config.stoploss) if config.stoploss is not None else None,
        stake_amount=float(config.stake_amount),
        priority=envelope.priority,
        experiment_name=envelope.experiment_name,
        submitted_at=datetime.fromisoformat(envelope.submitted_at) if envelope.submitted_at else None,
    )


def _decode_body(body: str | bytes) -> dict[str, Any]:
    raw = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise RequestRejected([FieldError("body", f"is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} (64 KiB)")])
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise RequestRejected([FieldError("body", "is not valid UTF-8")]) from None
    document = _loads(text)
    if isinstance(document, str):  # a JSON string holding the JSON object: unwrap once
        document = _loads(document)
    if not isinstance(document, dict):
        kind = "null" if document is None else type(document).__name__
        raise RequestRejected([FieldError("body", f"must be a JSON object, got {kind}")])
    return document


def _loads(text: str) -> Any:
    repeated: list[tuple[dict[str, Any], str]] = []

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # json keeps the last of two equal keys, silently: note them, to reject the body.
        obj = dict(pairs)
        if len(obj) < len(pairs):
            counts = Counter(key for key, _ in pairs)
            repeated.extend((obj, key) for key in sorted(k for k, n in counts.items() if n > 1))
        return obj

    try:
        # NaN/Infinity literals become floats here so the field rules can name the field.
        document = json.loads(text, parse_constant=float, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise RequestRejected([FieldError("body", f"is not valid JSON ({reason})")]) from None
    if repeated:
        raise RequestRejected(
            [
                FieldError(_path_to(document, obj, key)[:200], "appears more than once in one object")
                for obj, key in repeated
            ]
        )
    return document


def _path_to(node: Any, target: dict[str, Any], key: str, path: str = "") -> str:
    """The dotted path of ``key`` in the object ``target`` somewhere inside ``node``."""
    if node is target:
        return f"{path}.{key}" if path else key
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for name, child in children:
        found = _path_to(child, target, key, f"{path}.{name}" if path else str(name))
        if found:
            return found
    return ""


def _stated_job_id(document: dict[str, Any]) -> str | None:
    """The sender's job id when it is valid: a rejection is then recorded under it."""
    job_id = document.get("job_id")
    if isinstance(job_id, str) and _JOB_ID.fullmatch(job_id):
        return job_id
    return None


_RULES = {
    "extra_forbidden": "unknown field; check the spelling against the request format",
    "missing": "is required",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number (not NaN or infinity)",
}


def _field_errors(exc: ValidationError) -> list[FieldError]:
    unique: dict[FieldError, None] = {}  # ordered, and linear to deduplicate
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "body"
        unique[FieldError(field[:200], _rule(err)[:500])] = None
    errors = list(unique)
    if len(errors) > MAX_STORED_ERRORS:  # a REJECTED record must stay far below DynamoDB's 400 KB
        hidden = len(errors) - MAX_STORED_ERRORS + 1
        errors = [*errors[: MAX_STORED_ERRORS - 1], FieldError("body", f"... and {hidden} more errors")]
    return errors


def _rule(err: Any) -> str:
    kind, given = err["type"], err.get("input")
    if isinstance(given, bool) and kind in ("float_type", "int_type"):
        return "must be a number, not true/false"
    if kind in _RULES:
        return _RULES[kind]
    if isinstance(given, float) and not math.isfinite(given):
        return _RULES["finite_number"]
    if kind == "string_pattern_mismatch":
        return f"must match {err['ctx']['pattern']}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return "must be a whole number from 0 to 9"
    return str(err["msg"]).removeprefix("Value error, ")
