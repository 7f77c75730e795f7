"""Task lifecycle: the EventBridge rule for this cluster's task state changes -> task-events
Lambda, and the scheduled reconciler that frees slots whose task is gone."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.common import python_function
from stacks.nag import acknowledge, ref
from stacks.settings import METRICS_NAMESPACE, Settings

TASK_EVENTS_HANDLER = "task_events.handler.lambda_handler"
RECONCILER_HANDLER = "reconciler.handler.lambda_handler"


def _cluster_tasks_arn(scope: Construct, cluster: ecs.ICluster) -> str:
    """Every task of this cluster: ``arn:...:task/<cluster-name>/*``."""
    return Stack.of(scope).format_arn(service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*")


def _lifecycle_function(
    scope: Construct,
    *,
    settings: Settings,
    code: lambda_.Code,
    queue: sqs.IQueue,
    table: dynamodb.ITable,
    cluster: ecs.ICluster,
    name: str,
    description: str,
    handler: str,
    timeout_seconds: int,
    task_actions: list[str],
    extra_environment: dict[str, str] | None = None,
) -> lambda_.Function:
    """A function that follows tasks after launch (lifecycle settings in lambda_src): it reads
    and moves jobs, re-queues Spot-interrupted ones, and acts on this cluster's tasks only."""
    function = python_function(
        scope,
        "Function",
        settings=settings,
        function_name=name,
        description=description,
        handler=handler,
        code=code,
        timeout_seconds=timeout_seconds,
        environment={
            "WORKFLOW_STATE_TABLE": table.table_name,
            "ECS_CLUSTER": cluster.cluster_name,
            "BACKTEST_QUEUE_URL": queue.queue_url,
            "MAX_ATTEMPTS": str(settings.max_attempts),
            "ENVIRONMENT": settings.env,
            "METRICS_NAMESPACE": METRICS_NAMESPACE,
            **(extra_environment or {}),
        },
    )
    table.grant_read_write_data(function)
    queue.grant_send_messages(function)  # an interrupted job is re-queued
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ThisClustersTasks",
            actions=task_actions,
            resources=[_cluster_tasks_arn(scope, cluster)],
            conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
        )
    )
    _acknowledge_common(function, table, cluster)
    return function


class TaskEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        code: lambda_.Code,
        queue: sqs.IQueue,
        table: dynamodb.ITable,
        cluster: ecs.ICluster,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = _lifecycle_function(
            self,
            settings=settings,
            code=code,
            queue=queue,
            table=table,
            cluster=cluster,
            name=settings.names.task_events_function,
            description="task-events: records ECS task state changes, releases slots, retries Spot interruptions",
            handler=TASK_EVENTS_HANDLER,
            timeout_seconds=60,
            task_actions=["ecs:DescribeTasks"],
        )
        self.rule = events.Rule(
            self,
            "TaskStateChange",
            description=f"ECS task state changes of {settings.names.cluster} -> task-events",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={"clusterArn": [cluster.cluster_arn]},
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=8, max_event_age=Duration.hours(2))],
        )


class Reconciler(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        code: lambda_.Code,
        queue: sqs.IQueue,
        table: dynamodb.ITable,
        cluster: ecs.ICluster,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = _lifecycle_function(
            self,
            settings=settings,
            code=code,
            queue=queue,
            table=table,
            cluster=cluster,
            name=settings.names.reconciler_function,
            description="reconciler: frees concurrency slots whose task is gone, stops overdue tasks",
            handler=RECONCILER_HANDLER,
            timeout_seconds=120,
            task_actions=["ecs:DescribeTasks", "ecs:StopTask"],
            extra_environment={"MAX_TASK_DURATION_MINUTES": str(settings.max_task_duration_minutes)},
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description=f"reconcile {settings.names.table} with {settings.names.cluster}",
            schedule=events.Schedule.rate(Duration.minutes(settings.reconcile_every_minutes)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )


def _acknowledge_common(function: lambda_.Function, table: dynamodb.ITable, cluster: ecs.ICluster) -> None:
    role = function.role
    assert role is not None  # a Function made without a role gets one
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{ref(table, 'Arn')}/index/*]",
        "grant_read_write_data includes this table's GSIs (by-status); scoped to this one table.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/{ref(cluster)}/*]",
        "Task ids are unknown in advance; the resource is limited to this cluster's tasks and the statement "
        "carries an ecs:cluster condition.",
    )
