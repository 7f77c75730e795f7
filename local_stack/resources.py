"""The pipeline's AWS resources, created in the emulator with the names and settings the CDK
stack gives them (``stacks.settings.Names``), so the handlers run against the same shape."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from local_stack.aws import ACCOUNT, REGION, client
from stacks.settings import RUNNER_CONTAINER_NAME, Names

LOCAL_ENV = "local"
MAX_RECEIVE_COUNT = 5  # as the CDK stack's redrive policy (Settings.max_receive_count)


@dataclass
class Resources:
    """Everything a client needs to find the local pipeline; written to state.json."""

    env: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    results_bucket: str
    data_bucket: str
    cluster: str
    cluster_arn: str
    task_definition_arn: str
    subnets: list[str]
    security_groups: list[str]
    container_name: str = RUNNER_CONTAINER_NAME
    task_environment: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def create_resources(
    endpoint: str,
    *,
    env: str = LOCAL_ENV,
    visibility_timeout: int = 5,
    task_environment: dict[str, str] | None = None,
) -> Resources:
    names = Names(env)
    sqs, ddb, s3, ec2, ecs = (client(s, endpoint) for s in ("sqs", "dynamodb", "s3", "ec2", "ecs"))

    dlq_url = sqs.create_queue(QueueName=names.dead_letter_queue, Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            # Short locally so a failed record comes back in seconds (the CDK stack uses 6x the
            # consumer timeout, which only matters for a Lambda that runs for minutes).
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    ddb.create_table(
        TableName=names.table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "job_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "received_at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "received_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_time_to_live(TableName=names.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    results_bucket = names.bucket("results", ACCOUNT, REGION)
    data_bucket = names.bucket("data", ACCOUNT, REGION)
    for bucket in (results_bucket, data_bucket):
        s3.create_bucket(Bucket=bucket)

    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.0.0/20", AvailabilityZone=f"{REGION}a")["Subnet"]
    group = ec2.create_security_group(
        GroupName=names("tasks"), Description="backtest tasks (egress only)", VpcId=vpc_id
    )

    cluster = ecs.create_cluster(
        clusterName=names.cluster,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )["cluster"]
    environment = {
        "WORKFLOW_STATE_TABLE": names.table,
        "RESULTS_BUCKET": results_bucket,
        "DATA_BUCKET": data_bucket,
        "ENVIRONMENT": env,
        "EXCHANGE": "binance",
        **(task_environment or {}),
    }
    task_definition = ecs.register_task_definition(
        family=names.task_family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="4096",
        containerDefinitions=[
            {
                "name": RUNNER_CONTAINER_NAME,
                "image": "backtest-runner:local",
                "memory": 4096,
                "essential": True,
                "stopTimeout": 120,
                "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            }
        ],
    )["taskDefinition"]
    return Resources(
        env=env,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        table=names.table,
        results_bucket=results_bucket,
        data_bucket=data_bucket,
        cluster=names.cluster,
        cluster_arn=cluster["clusterArn"],
        task_definition_arn=task_definition["taskDefinitionArn"],
        subnets=[subnet["SubnetId"]],
        security_groups=[group["GroupId"]],
        task_environment=environment,
    )
