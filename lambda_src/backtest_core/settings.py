"""Typed settings read from the environment once per process and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


class SettingsError(RuntimeError):
    """A required variable is missing or a value is malformed; the message names each one."""


class EnvSettings(BaseModel):
    """Base for a process's settings: field names are the upper-cased variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']).upper()}: "
                + ("is required" if e["type"] == "missing" else e["msg"])
                for e in exc.errors()
            )
            raise SettingsError(f"{cls.__name__} from the environment: {problems}") from None


def comma_list(value: Any) -> Any:
    """``a,b`` from an environment variable becomes ``("a", "b")``."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class LifecycleSettings(EnvSettings):
    """What following tasks after launch needs (the task-events and reconciler functions)."""

    workflow_state_table: str
    ecs_cluster: str
    backtest_queue_url: str  # where an interrupted job is re-queued
    environment: str = "dev"
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    ecs_container_name: str = "runner"
    metrics_namespace: str = "BacktestPipeline"


CommaList = Annotated[tuple[str, ...], BeforeValidator(comma_list), Field(min_length=1)]


class ConsumerSettings(EnvSettings):
    """The backtest-consumer function's settings."""

    ecs_cluster: str
    ecs_task_definition_arn: str
    ecs_subnets: CommaList
    ecs_security_groups: CommaList
    workflow_state_table: str
    backtest_queue_url: str  # where a deferred request is re-sent
    environment: str = "dev"
    ecs_container_name: str = "runner"
    ecs_assign_public_ip: bool = False  # only for public subnets without a NAT
    spot_fallback_to_on_demand: bool = False
    max_concurrent_tasks: Annotated[int, Field(ge=1, le=1000)] = 10
    defer_delay_seconds: Annotated[int, Field(ge=0, le=900)] = 60
    # How long a delivery owns a job it is launching: at least the function's timeout.
    claim_lease_seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    record_concurrency: Annotated[int, Field(ge=1, le=10)] = 5  # records of one batch in flight
    job_ttl_days: Annotated[int, Field(ge=1)] = 90
    metrics_namespace: str = "BacktestPipeline"
