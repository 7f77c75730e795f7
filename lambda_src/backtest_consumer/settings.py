"""backtest-consumer settings, from the Lambda's environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from backtest_core.settings import EnvSettings, comma_list

CommaList = Annotated[tuple[str, ...], BeforeValidator(comma_list), Field(min_length=1)]


class ConsumerSettings(EnvSettings):
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
    record_concurrency: Annotated[int, Field(ge=1, le=10)] = 5  # records of one batch in flight
    job_ttl_days: Annotated[int, Field(ge=1)] = 90
    metrics_namespace: str = "BacktestPipeline"
