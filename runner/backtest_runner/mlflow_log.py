"""Log a finished backtest to MLflow as one run of the request's experiment (mlflow-skinny)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtest_runner.job import JobRequest


def log_run(
    tracking_uri: str,
    request: JobRequest,
    *,
    attempt: int,
    summary: dict[str, Any],
    artifacts: list[Path],
) -> str:
    """Returns the MLflow run id. Imported lazily: mlflow costs a second to import."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(request.experiment_name)
    with mlflow.start_run(run_name=f"{request.job_id}-attempt-{attempt}") as run:
        mlflow.set_tags({"job_id": request.job_id, "attempt": str(attempt), "strategy": request.strategy})
        mlflow.log_params(
            {
                "strategy": request.strategy,
                "timeframe": request.timeframe,
                "symbols": ",".join(request.symbols),
                "trading_mode": request.trading_mode,
                "start_date": request.start_date.isoformat() if request.start_date else "",
                "end_date": request.end_date.isoformat() if request.end_date else "",
                "stoploss": "" if request.stoploss is None else request.stoploss,
                "stake_amount": request.stake_amount,
            }
        )
        mlflow.log_metrics({key: float(value) for key, value in summary.items() if _is_metric(value)})
        for artifact in artifacts:
            mlflow.log_artifact(str(artifact))
        return run.info.run_id


def _is_metric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
