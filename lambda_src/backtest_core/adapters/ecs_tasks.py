"""Backtest tasks on ECS Fargate: launch (Spot first), describe, stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from backtest_core.jobs import ON_DEMAND, SPOT, client_token
from backtest_core.ports import LaunchedTask, LaunchError

_THROTTLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})


@dataclass(frozen=True)
class TaskNetwork:
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool = False


class EcsTaskControl:
    """Looking at and stopping the cluster's tasks."""

    def __init__(self, client: Any, *, cluster: str) -> None:
        self._ecs = client
        self._cluster = cluster

    def describe(self, task_arns: list[str]) -> dict[str, dict[str, Any]]:
        """The tasks ECS still knows, by ARN (stopped tasks are kept about an hour)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(task_arns), 100):
            response = self._ecs.describe_tasks(cluster=self._cluster, tasks=task_arns[start : start + 100])
            found.update({task["taskArn"]: task for task in response.get("tasks", [])})
        return found

    def stop(self, task_arn: str, reason: str) -> None:
        self._ecs.stop_task(cluster=self._cluster, task=task_arn, reason=reason[:255])


class EcsTaskLauncher:
    """Starting a job's task, Spot first."""

    def __init__(
        self,
        client: Any,
        *,
        cluster: str,
        task_definition: str,
        container_name: str,
        network: TaskNetwork,
        fallback_to_on_demand: bool = False,
    ) -> None:
        self._ecs = client
        self._cluster = cluster
        self._task_definition = task_definition
        self._container = container_name
        self._network = network
        self._fallback = fallback_to_on_demand

    def launch(self, job_id: str, *, attempt: int, redelivered: bool = False) -> LaunchedTask:
        if self._fallback and redelivered and (earlier := self._running_task(job_id, attempt)):
            # An earlier delivery may have fallen back to on-demand (another clientToken) and
            # died before recording it: adopt that task rather than start a Spot twin.
            return earlier
        try:
            return self._run(job_id, attempt, SPOT)
        except LaunchError as error:
            # ECS has no automatic Spot-to-on-demand fallback; this is it, when enabled.
            if not (self._fallback and error.category == "CapacityUnavailable"):
                raise
            return self._run(job_id, attempt, ON_DEMAND)

    def _running_task(self, job_id: str, attempt: int) -> LaunchedTask | None:
        arns = self._ecs.list_tasks(cluster=self._cluster, startedBy=job_id, desiredStatus="RUNNING")["taskArns"]
        if not arns:
            return None
        for task in self._ecs.describe_tasks(cluster=self._cluster, tasks=arns)["tasks"]:
            environment = {
                env["name"]: env["value"]
                for override in task.get("overrides", {}).get("containerOverrides", [])
                for env in override.get("environment", [])
            }
            if environment.get("JOB_ID") == job_id and environment.get("ATTEMPT") == str(attempt):
                return LaunchedTask(task["taskArn"], task.get("capacityProviderName", ON_DEMAND))
        return None

    def _run(self, job_id: str, attempt: int, capacity_provider: str) -> LaunchedTask:
        try:
            response = self._ecs.run_task(
                cluster=self._cluster,
                taskDefinition=self._task_definition,
                capacityProviderStrategy=[{"capacityProvider": capacity_provider, "weight": 1}],
                clientToken=client_token(job_id, attempt, capacity_provider),
                startedBy=job_id,  # lets the reconciler and operators find a job's tasks
                count=1,
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": list(self._network.subnets),
                        "securityGroups": list(self._network.security_groups),
                        "assignPublicIp": "ENABLED" if self._network.assign_public_ip else "DISABLED",
                    }
                },
                # The job id, never the request: overrides are capped at 8192 characters.
                overrides={
                    "containerOverrides": [
                        {
                            "name": self._container,
                            "environment": [
                                {"name": "JOB_ID", "value": job_id},
                                {"name": "ATTEMPT", "value": str(attempt)},
                            ],
                        }
                    ]
                },
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            message = error.response["Error"].get("Message", "")
            # ECS sometimes reports throttling as an InvalidParameterException with a rate text.
            throttled = code in _THROTTLE_CODES or "throttl" in message.lower() or "rate exceeded" in message.lower()
            raise LaunchError("Throttled" if throttled else code, message, job_id=job_id) from error

        tasks = response.get("tasks", [])
        if not tasks:
            # HTTP 200 with no task: the reasons are in `failures`.
            reasons = (
                "; ".join(
                    f"{f.get('reason', 'unknown')}" + (f" ({f['detail']})" if f.get("detail") else "")
                    for f in response.get("failures", [])
                )
                or "RunTask returned no task and no failure"
            )
            category = "CapacityUnavailable" if "capacity" in reasons.lower() else "RunTaskFailure"
            raise LaunchError(category, reasons, job_id=job_id)
        return LaunchedTask(task_arn=tasks[0]["taskArn"], capacity_provider=capacity_provider)
