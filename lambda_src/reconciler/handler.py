"""reconciler Lambda (scheduled): settles what task events missed.

Frees slots of jobs that are done or whose claim went stale, settles LAUNCHED/RUNNING jobs
whose task stopped or vanished, and stops tasks that run past the maximum duration.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from backtest_core.adapters.wiring import lifecycle_from
from backtest_core.lifecycle import TaskLifecycle
from backtest_core.telemetry import lambda_telemetry
from reconciler.settings import ReconcilerSettings

SERVICE = "reconciler"

settings = ReconcilerSettings.from_env()
logger, metrics = lambda_telemetry(SERVICE, namespace=settings.metrics_namespace, environment=settings.environment)


@cache
def lifecycle() -> TaskLifecycle:
    """Built on first use: AWS clients cost time the import can skip."""
    return lifecycle_from(settings)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    settled = lifecycle().reconcile(max_task_duration=timedelta(minutes=settings.max_task_duration_minutes))
    for item in settled:
        logger.info(f"reconciled: {item.change.value} {item.detail}", extra={"job_id": item.job_id})
    counts = Counter(item.change.value for item in settled)
    metrics.add_metric(name="BacktestJobsReconciled", unit=MetricUnit.Count, value=len(settled))
    return dict(counts)
