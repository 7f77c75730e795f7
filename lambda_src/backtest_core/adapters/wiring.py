"""Builds domain services over real AWS clients; the one place the Lambdas create clients."""

from __future__ import annotations

import boto3
from botocore.config import Config

from backtest_core.adapters.ecs_tasks import EcsTaskControl, EcsTaskLauncher, TaskNetwork
from backtest_core.adapters.job_table import DynamoJobTable
from backtest_core.adapters.request_queue import SqsRequestQueue
from backtest_core.consumer import Consumer
from backtest_core.lifecycle import TaskLifecycle
from backtest_core.settings import ConsumerSettings, LifecycleSettings

# Standard retry mode backs off on throttling; a few attempts keep a Lambda inside its timeout.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def lifecycle_from(settings: LifecycleSettings) -> TaskLifecycle:
    return TaskLifecycle(
        jobs=DynamoJobTable(boto3.client("dynamodb", config=AWS_CONFIG), settings.workflow_state_table),
        queue=SqsRequestQueue(boto3.client("sqs", config=AWS_CONFIG), settings.backtest_queue_url),
        tasks=EcsTaskControl(boto3.client("ecs", config=AWS_CONFIG), cluster=settings.ecs_cluster),
        max_attempts=settings.max_attempts,
    )


def consumer_from(settings: ConsumerSettings) -> Consumer:
    return Consumer(
        jobs=DynamoJobTable(
            boto3.client("dynamodb", config=AWS_CONFIG), settings.workflow_state_table, ttl_days=settings.job_ttl_days
        ),
        launcher=EcsTaskLauncher(
            boto3.client("ecs", config=AWS_CONFIG),
            cluster=settings.ecs_cluster,
            task_definition=settings.ecs_task_definition_arn,
            container_name=settings.ecs_container_name,
            network=TaskNetwork(settings.ecs_subnets, settings.ecs_security_groups, settings.ecs_assign_public_ip),
            fallback_to_on_demand=settings.spot_fallback_to_on_demand,
        ),
        queue=SqsRequestQueue(boto3.client("sqs", config=AWS_CONFIG), settings.backtest_queue_url),
        max_concurrent_tasks=settings.max_concurrent_tasks,
        defer_delay_seconds=settings.defer_delay_seconds,
        claim_lease_seconds=settings.claim_lease_seconds,
    )
