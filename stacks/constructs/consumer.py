"""The backtest-consumer Lambda, its SQS event source and its permissions: where RunTask is allowed."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.common import python_function
from stacks.nag import acknowledge, ref
from stacks.settings import METRICS_NAMESPACE, RUNNER_CONTAINER_NAME, Settings

HANDLER = "backtest_consumer.handler.lambda_handler"


class Consumer(Construct):
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
        task_definition: ecs.FargateTaskDefinition,
        task_subnets: ec2.SelectedSubnets,
        task_security_group: ec2.ISecurityGroup,
        assign_public_ip: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            settings=settings,
            function_name=settings.names.consumer_function,
            description="backtest-consumer: validates requests from the queue and launches runner tasks",
            handler=HANDLER,
            code=code,
            memory_mb=settings.consumer_memory_mb,
            timeout_seconds=settings.consumer_timeout_seconds,
            environment={
                "ECS_CLUSTER": cluster.cluster_name,
                "ECS_TASK_DEFINITION_ARN": task_definition.task_definition_arn,
                "ECS_SUBNETS": ",".join(task_subnets.subnet_ids),
                "ECS_SECURITY_GROUPS": task_security_group.security_group_id,
                "ECS_CONTAINER_NAME": RUNNER_CONTAINER_NAME,
                "ECS_ASSIGN_PUBLIC_IP": _flag(assign_public_ip),
                "WORKFLOW_STATE_TABLE": table.table_name,
                "BACKTEST_QUEUE_URL": queue.queue_url,
                "ENVIRONMENT": settings.env,
                "SPOT_FALLBACK_TO_ON_DEMAND": _flag(settings.spot_fallback_to_on_demand),
                "MAX_CONCURRENT_TASKS": str(settings.max_concurrent_tasks),
                "DEFER_DELAY_SECONDS": str(settings.defer_delay_seconds),
                # A delivery owns the job it launches for as long as it can run.
                "CLAIM_LEASE_SECONDS": str(settings.consumer_timeout_seconds),
                "JOB_TTL_DAYS": str(settings.job_ttl_days),
                "METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=settings.batch_size,
                report_batch_item_failures=True,
                max_concurrency=settings.consumer_max_concurrency,
            )
        )

        # Job records and the concurrency slot item.
        table.grant_read_write_data(self.function)
        # Deferred requests are re-sent to the same queue.
        queue.grant_send_messages(self.function)

        stack = Stack.of(self)
        family_arn = stack.format_arn(
            service="ecs", resource="task-definition", resource_name=f"{task_definition.family}:*"
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="RunRunnerTasksOnThisCluster",
                actions=["ecs:RunTask"],
                resources=[family_arn],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        roles = [task_definition.task_role.role_arn, task_definition.obtain_execution_role().role_arn]
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassRunnerRolesToEcs",
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        self.family_arn = family_arn

        role = self.function.role
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{ref(table, 'Arn')}/index/*]",
            "grant_read_write_data includes this table's GSIs (by-status); scoped to this one table.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/"
            f"{task_definition.family}:*]",
            "RunTask is allowed for every revision of this one task family (each deploy registers a new revision) "
            "and only on this cluster (ecs:cluster condition).",
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"
