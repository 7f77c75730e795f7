"""Per-environment settings for the CDK app, read from ``cdk.json`` context and validated.

``cdk.json`` holds ``context.environments.<name>``; ``-c env=<name>`` picks one (default ``dev``).
Every value a construct needs comes from here, so an environment differs only by its block in
``cdk.json``. Resource names are derived in one place: :class:`Names`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
# Fargate CPU units -> allowed memory (MiB) for the sizes a backtest sensibly uses.
FARGATE_MEMORY = {
    256: range(512, 2048 + 1, 512),
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
    8192: range(16384, 61440 + 1, 4096),
    16384: range(32768, 122880 + 1, 8192),
}
METRICS_NAMESPACE = "BacktestPipeline"
RUNNER_CONTAINER_NAME = "runner"


class SettingsError(ValueError):
    """The chosen environment is missing from cdk.json or one of its values is invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AlarmSettings(_Model):
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None  # subscribed when set
    dlq_depth: Annotated[int, Field(ge=0)] = 0  # alarm when visible DLQ messages exceed this
    failed_requests: Annotated[int, Field(ge=0)] = 0  # failed requests per period above this
    failed_tasks: Annotated[int, Field(ge=0)] = 0
    oldest_message_age_seconds: Annotated[int, Field(ge=60)] = 1800
    lambda_errors: Annotated[int, Field(ge=0)] = 0
    lambda_throttles: Annotated[int, Field(ge=0)] = 0
    period_minutes: Annotated[int, Field(ge=1, le=60)] = 5


class NetworkSettings(_Model):
    vpc_id: str | None = None  # an existing VPC (looked up: needs account and region)
    max_azs: Annotated[int, Field(ge=1, le=3)] = 2  # > 2 only with account and region set
    nat_gateways: Annotated[int, Field(ge=0, le=3)] = 1  # 0: tasks run in public subnets with a public IP
    cidr: str = "10.40.0.0/16"
    flow_logs: bool = True

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("vpc-"):
            raise ValueError("must look like vpc-0123456789abcdef0")
        return value


class Settings(_Model):
    """One environment of the pipeline."""

    env: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,11}$")]
    account: str | None = None  # only needed with network.vpc_id (VPC lookup)
    region: str | None = None

    # consumer Lambda and its event source
    max_concurrent_tasks: Annotated[int, Field(ge=1, le=1000)] = 10  # the cap on running backtests
    consumer_memory_mb: Annotated[int, Field(ge=128, le=10240)] = 256
    consumer_timeout_seconds: Annotated[int, Field(ge=10, le=900)] = 300
    consumer_max_concurrency: Annotated[int, Field(ge=2, le=1000)] = 5  # ESM ScalingConfig
    batch_size: Annotated[int, Field(ge=1, le=10)] = 10
    max_receive_count: Annotated[int, Field(ge=5, le=1000)] = 5
    defer_delay_seconds: Annotated[int, Field(ge=0, le=900)] = 60
    job_ttl_days: Annotated[int, Field(ge=1)] = 90
    spot_fallback_to_on_demand: bool = False

    # task-events and reconciler Lambdas
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    reconcile_every_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    max_task_duration_minutes: Annotated[int, Field(ge=5, le=10080)] = 240

    # runner task
    task_cpu: int = 1024
    task_memory_mib: int = 4096
    markets_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    container_insights: bool = False

    log_retention_days: int = 30
    removal_policy: Literal["destroy", "retain"] = "destroy"
    network: NetworkSettings = NetworkSettings()
    alarms: AlarmSettings = AlarmSettings()

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        allowed = FARGATE_MEMORY.get(self.task_cpu)
        if allowed is None:
            raise ValueError(f"task_cpu must be one of {', '.join(map(str, FARGATE_MEMORY))}")
        if self.task_memory_mib not in allowed:
            raise ValueError(
                f"task_memory_mib {self.task_memory_mib} is not valid for task_cpu {self.task_cpu}: "
                f"{allowed.start}..{allowed.stop - 1} in steps of {allowed.step}"
            )
        if self.network.max_azs > 2 and not (self.account and self.region):
            raise ValueError("network.max_azs > 2 needs account and region (an env-agnostic stack sees two AZs)")
        if self.network.vpc_id and not (self.account and self.region):
            raise ValueError("network.vpc_id needs account and region (the VPC is looked up at synth)")
        return self

    # derived values
    @property
    def queue_visibility_seconds(self) -> int:
        """AWS's advice for a Lambda event source: at least six times the function timeout."""
        return 6 * self.consumer_timeout_seconds

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def names(self) -> Names:
        return Names(self.env)


class Names:
    """Every physical name, derived from the environment: ``backtest-<component>-<env>``."""

    def __init__(self, env: str) -> None:
        self.env = env

    def __call__(self, component: str) -> str:
        return f"backtest-{component}-{self.env}"

    @property
    def stack(self) -> str:
        return f"backtest-pipeline-{self.env}"

    @property
    def queue(self) -> str:
        return self("requests")

    @property
    def dead_letter_queue(self) -> str:
        return self("requests-dlq")

    @property
    def table(self) -> str:
        return self("jobs")

    @property
    def cluster(self) -> str:
        return self("cluster")

    @property
    def task_family(self) -> str:
        return self("runner")

    @property
    def consumer_function(self) -> str:
        return self("consumer")

    @property
    def task_events_function(self) -> str:
        return self("task-events")

    @property
    def reconciler_function(self) -> str:
        return self("reconciler")

    @property
    def alarm_topic(self) -> str:
        return self("alarms")

    @property
    def dashboard(self) -> str:
        return self("pipeline")

    def alarm(self, what: str) -> str:
        return self(f"alarm-{what}")

    def bucket(self, purpose: str, account: str, region: str) -> str:
        """Bucket names are global: account and region (tokens at synth) keep them unique."""
        return f"backtest-{purpose}-{self.env}-{account}-{region}"


def load_settings(context: dict[str, Any], env: str) -> Settings:
    """The ``env`` block of ``context['environments']``, validated; errors name every field."""
    environments = context.get("environments") or {}
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none"
        raise SettingsError(f"environment {env!r} is not in cdk.json context.environments (known: {known})")
    try:
        return Settings.model_validate({"env": env, **environments[env]})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"cdk.json environment {env!r}: {problems}") from None
