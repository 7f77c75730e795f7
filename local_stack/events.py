"""EventBridge "ECS Task State Change" events, shaped like the ones ECS sends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from local_stack.aws import ACCOUNT, REGION

SPOT_INTERRUPTED = "Your Spot Task was interrupted."
CONTAINER_EXITED = "Essential container in task exited"


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_state_change(
    task: dict[str, Any],
    *,
    last_status: str,
    version: int,
    container_name: str,
    created_at: float,
    started_at: float | None = None,
    stopped_at: float | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """``task`` is the DescribeTasks entry; the rest is what the executor observed."""
    task_arn = task["taskArn"]
    container: dict[str, Any] = {
        "name": container_name,
        "containerArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{task_arn.rsplit('/', 1)[-1]}/{container_name}",
        "taskArn": task_arn,
        "lastStatus": last_status,
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    detail: dict[str, Any] = {
        "clusterArn": task["clusterArn"],
        "taskArn": task_arn,
        "taskDefinitionArn": task["taskDefinitionArn"],
        "group": task.get("group", ""),
        "lastStatus": last_status,
        "desiredStatus": "STOPPED" if last_status == "STOPPED" else "RUNNING",
        "startedBy": task.get("startedBy", ""),
        "capacityProviderName": task.get("capacityProviderName") or "FARGATE_SPOT",
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "version": version,
        "createdAt": iso(created_at),
        "containers": [container],
        "overrides": task.get("overrides", {"containerOverrides": []}),
        "attachments": task.get("attachments", []),
    }
    if started_at is not None:
        detail["startedAt"] = iso(started_at)
    if last_status == "STOPPED":
        detail.update(
            {
                "stoppingAt": iso(stopped_at),
                "stoppedAt": iso(stopped_at),
                "executionStoppedAt": iso(stopped_at),
                "stopCode": stop_code,
                "stoppedReason": stopped_reason or "",
            }
        )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": iso(stopped_at or started_at or created_at),
        "region": REGION,
        "resources": [task_arn],
        "detail": detail,
    }
