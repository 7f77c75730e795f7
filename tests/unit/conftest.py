"""Unit-test fixtures: every AWS call goes to moto, in process; nothing reaches the network."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backtest_core.adapters.ecs_tasks import EcsTaskLauncher, TaskNetwork
from backtest_core.adapters.job_table import STATUS_INDEX, DynamoJobTable
from backtest_core.adapters.request_queue import SqsRequestQueue
from backtest_core.consumer import Consumer
from backtest_core.settings import ConsumerSettings, LifecycleSettings
from local_stack.ecs_emulation import IdempotentEcsClient

REGION = "us-east-1"
TABLE = "backtest-jobs-test"
CLUSTER = "backtest-test"
CONTAINER = "runner"

# Handlers validate their settings at import; these placeholders let them import, and each
# test then hands in the settings of its own moto world (see `aws`).
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "ECS_CLUSTER": CLUSTER,
    "ECS_TASK_DEFINITION_ARN": "placeholder",
    "ECS_SUBNETS": "placeholder",
    "ECS_SECURITY_GROUPS": "placeholder",
    "WORKFLOW_STATE_TABLE": TABLE,
    "BACKTEST_QUEUE_URL": "placeholder",
    "POWERTOOLS_METRICS_NAMESPACE": "BacktestPipeline",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)


@dataclass
class AwsWorld:
    """A moto account holding what the CDK stack would: table, queues, network, cluster."""

    ddb: Any
    sqs: Any
    ecs: Any
    queue_url: str
    dlq_url: str
    task_definition_arn: str
    subnet_id: str
    security_group_id: str

    @property
    def jobs(self) -> DynamoJobTable:
        return DynamoJobTable(self.ddb, TABLE)

    def serialized(self) -> AwsWorld:
        """The same world with clients safe to share between threads."""
        return dataclasses.replace(
            self, ddb=OneCallAtATime(self.ddb), sqs=OneCallAtATime(self.sqs), ecs=OneCallAtATime(self.ecs)
        )

    def consumer(self, *, cap: int = 10, ecs: Any = None, fallback: bool = False, lease: int = 300) -> Consumer:
        """The consumer's domain over this world; ``ecs`` replaces the (idempotent) ECS client."""
        return Consumer(
            jobs=DynamoJobTable(self.ddb, TABLE),
            launcher=EcsTaskLauncher(
                ecs or IdempotentEcsClient(self.ecs),
                cluster=CLUSTER,
                task_definition=self.task_definition_arn,
                container_name=CONTAINER,
                network=TaskNetwork((self.subnet_id,), (self.security_group_id,)),
                fallback_to_on_demand=fallback,
            ),
            queue=SqsRequestQueue(self.sqs, self.queue_url),
            max_concurrent_tasks=cap,
            defer_delay_seconds=0,
            claim_lease_seconds=lease,
        )

    def consumer_settings(self, **overrides: Any) -> ConsumerSettings:
        values = {
            "ecs_cluster": CLUSTER,
            "ecs_task_definition_arn": self.task_definition_arn,
            "ecs_subnets": (self.subnet_id,),
            "ecs_security_groups": (self.security_group_id,),
            "workflow_state_table": TABLE,
            "backtest_queue_url": self.queue_url,
            **overrides,
        }
        return ConsumerSettings.model_validate(values)

    def lifecycle_settings(self, **overrides: Any) -> LifecycleSettings:
        return LifecycleSettings.model_validate(
            {"workflow_state_table": TABLE, "ecs_cluster": CLUSTER, "backtest_queue_url": self.queue_url, **overrides}
        )

    def tasks(self, desired_status: str = "RUNNING") -> list[str]:
        return self.ecs.list_tasks(cluster=CLUSTER, desiredStatus=desired_status)["taskArns"]

    def queued_messages(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        return response.get("Messages", [])


@pytest.fixture
def aws() -> Iterator[AwsWorld]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "job_id", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "received_at", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": STATUS_INDEX,
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "received_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="backtest-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="backtest-requests",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})},
        )["QueueUrl"]

        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group_id = ec2.create_security_group(GroupName="runner", Description="runner", VpcId=vpc_id)["GroupId"]

        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"])
        task_definition_arn = ecs.register_task_definition(
            family="backtest-runner",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            containerDefinitions=[{"name": CONTAINER, "image": "runner:latest", "memory": 2048, "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]
        yield AwsWorld(ddb, sqs, ecs, queue_url, dlq_url, task_definition_arn, subnet_id, group_id)


class OneCallAtATime:
    """A boto3 client proxy that lets one call into moto at a time.

    In-process moto is not thread-safe, while the real services are; each DynamoDB call is
    still atomic on its own, so concurrency tests keep every interleaving that matters.
    """

    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in ("get_paginator",):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call
