"""Shapes shared by unit and integration tests: SQS events and the seed's example request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from backtest_cli.examples import EXAMPLE

REGION = "us-east-1"


def sqs_event(*bodies: str, message_ids: list[str] | None = None, attempt: int | None = None) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    ids = message_ids or [str(uuid.uuid4()) for _ in bodies]
    attributes = {"attempt": {"stringValue": str(attempt), "dataType": "Number"}} if attempt else {}
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
                "messageAttributes": attributes,
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:backtest-requests",
                "awsRegion": REGION,
            }
            for message_id, body in zip(ids, bodies, strict=True)
        ]
    }


def example_request(job_id: str | None = "job-1", **config: Any) -> dict[str, Any]:
    """The seed's example message, nested form."""
    body: dict[str, Any] = {
        "config": {**EXAMPLE["config"], **config},
        "experiment_name": "seed-example",
        "priority": 0,
        "submitted_at": "2024-01-01T00:00:00Z",
    }
    if job_id:
        body["job_id"] = job_id
    return body


def ecs_task_event(
    task_arn: str,
    job_id: str,
    last_status: str,
    *,
    version: int,
    attempt: int = 1,
    exit_code: int | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    cluster_arn: str = f"arn:aws:ecs:{REGION}:123456789012:cluster/backtest-test",
) -> dict[str, Any]:
    """An EventBridge "ECS Task State Change" event, shaped like the ones ECS sends."""
    stopped = last_status == "STOPPED"
    container: dict[str, Any] = {
        "containerArn": f"{task_arn}/runner",
        "name": "runner",
        "lastStatus": last_status,
        "taskArn": task_arn,
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    detail: dict[str, Any] = {
        "clusterArn": cluster_arn,
        "taskArn": task_arn,
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:123456789012:task-definition/backtest-runner:1",
        "group": "family:backtest-runner",
        "launchType": "FARGATE",
        "capacityProviderName": "FARGATE_SPOT",
        "lastStatus": last_status,
        "desiredStatus": "STOPPED" if stopped else "RUNNING",
        "startedBy": job_id,
        "version": version,
        "createdAt": _ago(seconds=700),
        "startedAt": _ago(seconds=600),
        "containers": [container],
        "overrides": {
            "containerOverrides": [
                {
                    "name": "runner",
                    "environment": [{"name": "JOB_ID", "value": job_id}, {"name": "ATTEMPT", "value": str(attempt)}],
                }
            ]
        },
    }
    if stopped:
        detail.update(
            stopCode=stop_code or "EssentialContainerExited",
            stoppedReason=stopped_reason or "Essential container in task exited",
            stoppingAt=_ago(seconds=30),
            stoppedAt=_ago(seconds=0),
        )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": _ago(seconds=0),
        "region": REGION,
        "resources": [task_arn],
        "detail": detail,
    }


def _ago(*, seconds: int) -> str:
    moment = datetime.now(UTC) - timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
