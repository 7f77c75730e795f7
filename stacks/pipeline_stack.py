"""The pipeline stack: composes one construct per capability and exports what a client needs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from stacks.bundling import lambda_code
from stacks.constructs.compute import RunnerCompute
from stacks.constructs.consumer import Consumer
from stacks.constructs.job_store import JobStore
from stacks.constructs.monitoring import Monitoring
from stacks.constructs.network import Network
from stacks.constructs.queue import RequestQueue
from stacks.constructs.task_events import Reconciler, TaskEvents
from stacks.settings import Settings


class PipelineStack(Stack):
    def __init__(self, scope: Construct, settings: Settings) -> None:
        names = settings.names
        # Env-agnostic unless a VPC lookup needs a concrete account and region.
        env = Environment(account=settings.account, region=settings.region) if settings.account else None
        super().__init__(
            scope,
            names.stack,
            stack_name=names.stack,
            env=env,
            description=f"Backtest pipeline ({settings.env}): SQS -> Lambda -> ECS Fargate Spot -> DynamoDB/S3",
        )
        Tags.of(self).add("project", "backtest-pipeline")
        Tags.of(self).add("environment", settings.env)
        self.settings = settings

        code = lambda_code()  # one asset, every function
        self.requests = RequestQueue(self, "Requests", settings=settings)
        self.store = JobStore(self, "JobStore", settings=settings)
        self.network = Network(self, "Network", settings=settings)
        self.compute = RunnerCompute(
            self,
            "Compute",
            settings=settings,
            vpc=self.network.vpc,
            table=self.store.table,
            results_bucket=self.store.results_bucket,
            data_bucket=self.store.data_bucket,
        )
        self.consumer = Consumer(
            self,
            "Consumer",
            settings=settings,
            code=code,
            queue=self.requests.queue,
            table=self.store.table,
            cluster=self.compute.cluster,
            task_definition=self.compute.task_definition,
            task_subnets=self.network.task_subnets,
            task_security_group=self.network.task_security_group,
            assign_public_ip=self.network.assign_public_ip,
        )
        self.task_events = TaskEvents(
            self,
            "TaskEvents",
            settings=settings,
            code=code,
            queue=self.requests.queue,
            table=self.store.table,
            cluster=self.compute.cluster,
        )
        self.reconciler = Reconciler(
            self,
            "Reconciler",
            settings=settings,
            code=code,
            queue=self.requests.queue,
            table=self.store.table,
            cluster=self.compute.cluster,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            queue=self.requests.queue,
            dead_letter_queue=self.requests.dead_letter_queue,
            functions=[
                ("consumer", self.consumer.function),
                ("task-events", self.task_events.function),
                ("reconciler", self.reconciler.function),
            ],
        )

        outputs = {
            "QueueUrl": self.requests.queue.queue_url,
            "DeadLetterQueueUrl": self.requests.dead_letter_queue.queue_url,
            "JobTableName": self.store.table.table_name,
            "ResultsBucketName": self.store.results_bucket.bucket_name,
            "DataBucketName": self.store.data_bucket.bucket_name,
            "ClusterName": self.compute.cluster.cluster_name,
            "TaskDefinitionArn": self.compute.task_definition.task_definition_arn,
            "ConsumerFunctionName": self.consumer.function.function_name,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "DashboardName": names.dashboard,
            "DashboardUrl": self.monitoring.dashboard_url,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
