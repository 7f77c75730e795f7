"""The ECS cluster (FARGATE + FARGATE_SPOT) and the runner's Fargate task definition."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.common import log_group
from stacks.nag import acknowledge, ref
from stacks.settings import RUNNER_CONTAINER_NAME, Settings

RUNNER_DIR = Path(__file__).resolve().parents[2] / "runner"
STOP_TIMEOUT = Duration.seconds(120)  # Fargate's maximum; Spot gives a two-minute warning


class RunnerCompute(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        vpc: ec2.IVpc,
        table: dynamodb.ITable,
        results_bucket: s3.IBucket,
        data_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        names = settings.names

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=names.cluster,
            vpc=vpc,
            enable_fargate_capacity_providers=True,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED if settings.container_insights else ecs.ContainerInsights.DISABLED
            ),
        )

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=names.task_family,
            cpu=settings.task_cpu,
            memory_limit_mib=settings.task_memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        environment = {
            "WORKFLOW_STATE_TABLE": table.table_name,
            "RESULTS_BUCKET": results_bucket.bucket_name,
            "DATA_BUCKET": data_bucket.bucket_name,
            "ENVIRONMENT": settings.env,
            "EXCHANGE": "binance",
        }
        if settings.markets_uri:
            environment["MARKETS_URI"] = settings.markets_uri
        if settings.mlflow_tracking_uri:
            environment["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri

        self.container = self.task_definition.add_container(
            "Runner",
            container_name=RUNNER_CONTAINER_NAME,
            # Staged from runner/ at synth (no Docker needed); built and pushed by `cdk deploy`.
            image=ecs.ContainerImage.from_asset(
                str(RUNNER_DIR),
                platform=ecr_assets.Platform.LINUX_AMD64,
                exclude=["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "tests"],
            ),
            memory_limit_mib=settings.task_memory_mib,
            essential=True,
            stop_timeout=STOP_TIMEOUT,
            environment=environment,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="runner", log_group=log_group(self, "RunnerLogs", settings)),
        )

        task_role = self.task_definition.task_role
        table.grant_read_write_data(task_role)
        # Results: write objects under the bucket (a job's prefix is its id, known only at run time).
        task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteResults",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[results_bucket.arn_for_objects("*")],
            )
        )
        # Candle data: read only.
        task_role.add_to_principal_policy(
            iam.PolicyStatement(sid="ListData", actions=["s3:ListBucket"], resources=[data_bucket.bucket_arn])
        )
        task_role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadData", actions=["s3:GetObject"], resources=[data_bucket.arn_for_objects("*")])
        )

        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The runner's environment holds resource names and settings (table, buckets, exchange), none secret; "
            "the job itself arrives as a JOB_ID override and is read from the table.",
        )
        for rule, reason in (
            (
                f"AwsSolutions-IAM5[Resource::{ref(table, 'Arn')}/index/*]",
                "grant_read_write_data covers the table's GSIs (by-status listing); scoped to this table's indexes.",
            ),
            (
                f"AwsSolutions-IAM5[Resource::{ref(results_bucket, 'Arn')}/*]",
                "a job writes under its own id prefix, unknown until run time; put-only on this one bucket.",
            ),
            (
                f"AwsSolutions-IAM5[Resource::{ref(data_bucket, 'Arn')}/*]",
                "candle files are read by key from this one bucket; get-only.",
            ),
        ):
            acknowledge(task_role, rule, reason)
        acknowledge(
            self.task_definition.obtain_execution_role(),
            "AwsSolutions-IAM5[Resource::*]",
            "The execution role's ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); "
            "image pulls and log writes are scoped to the asset repository and the task's log group.",
        )
        if not settings.container_insights:
            acknowledge(
                self.cluster,
                "AwsSolutions-ECS4",
                f"Container Insights is off in {settings.env} to save its per-metric cost; task outcomes and "
                "durations are on the pipeline dashboard. Enabled in prod (cdk.json container_insights).",
            )

    @property
    def task_role(self):
        return self.task_definition.task_role

    @property
    def execution_role(self):
        return self.task_definition.obtain_execution_role()
