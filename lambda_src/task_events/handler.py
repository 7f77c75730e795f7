"""task-events Lambda: EventBridge "ECS Task State Change" in, job state out.

Parse the event, let ``backtest_core.lifecycle`` decide, publish the outcome as metrics.
An error is raised on purpose here (unlike the consumer): EventBridge's asynchronous
invocation then retries the event, and applying an event twice is harmless.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from backtest_core.adapters.wiring import lifecycle_from
from backtest_core.lifecycle import Change, TaskLifecycle, TaskState
from backtest_core.settings import LifecycleSettings
from backtest_core.telemetry import lambda_telemetry

SERVICE = "task-events"
CHANGE_METRICS = {
    Change.SUCCEEDED: "BacktestTasksSucceeded",
    Change.FAILED: "BacktestTasksFailed",
    Change.INTERRUPTED: "BacktestTasksInterrupted",
    Change.CANCELLED: "BacktestTasksCancelled",
}

settings = LifecycleSettings.from_env()
logger, metrics = lambda_telemetry(SERVICE, namespace=settings.metrics_namespace, environment=settings.environment)


@cache
def lifecycle() -> TaskLifecycle:
    """Built on first use: AWS clients cost time the import can skip."""
    return lifecycle_from(settings)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    detail = event.get("detail", {})
    try:
        task = TaskState.from_ecs(detail, settings.ecs_container_name)
    except (KeyError, ValueError) as error:
        logger.warning(f"not a backtest task event, ignored: {error}", extra={"task_arn": detail.get("taskArn")})
        return {"change": Change.IGNORED.value}
    keys = {"job_id": task.job_id, "task_arn": task.task_arn, "attempt": task.attempt, "version": task.version}
    settled = lifecycle().on_task_state(task)
    if settled.change in CHANGE_METRICS:
        metrics.add_metric(name=CHANGE_METRICS[settled.change], unit=MetricUnit.Count, value=1)
    if settled.duration_seconds is not None:
        metrics.add_metric(name="BacktestTaskDuration", unit=MetricUnit.Seconds, value=settled.duration_seconds)
    logger.info(f"task {task.last_status}: job {settled.change.value} {settled.detail}".strip(), extra=keys)
    return {"change": settled.change.value}
