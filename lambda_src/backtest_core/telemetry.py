"""Logger and metrics for a Lambda function, set up the same way in each one."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics


def lambda_telemetry(service: str, *, namespace: str, environment: str) -> tuple[Logger, Metrics]:
    """JSON logs tagged with ``service``; EMF metrics in the product's namespace with one
    ``Environment`` dimension (no service dimension: alarms and the dashboard select by
    Environment, and Reason where a metric has one)."""
    metrics = Metrics(namespace=namespace)
    metrics.set_default_dimensions(Environment=environment)
    return Logger(service=service), metrics
