"""backtest-consumer Lambda: an SQS batch in, ``{"batchItemFailures": [...]}`` out.

Thin by design: turn each record into an ``IncomingMessage``, let ``backtest_core.consumer``
decide, and map the outcome to metrics, logs and the partial-failure response. Records of a
standard queue run concurrently (bounded); a FIFO queue's records run in order and a failure
skips the rest of its message group.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    async_process_partial_response,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from backtest_core.adapters.request_queue import ATTEMPT_ATTRIBUTE
from backtest_core.adapters.wiring import consumer_from
from backtest_core.consumer import Consumer, IncomingMessage, Outcome, Result
from backtest_core.ports import LaunchError
from backtest_core.settings import ConsumerSettings
from backtest_core.telemetry import lambda_telemetry

SERVICE = "backtest-consumer"
OUTCOME_METRICS = {
    Outcome.LAUNCHED: "BacktestTasksLaunched",
    Outcome.DUPLICATE: "BacktestDuplicateRequests",
    Outcome.DEFERRED: "BacktestRequestsDeferred",
}

settings = ConsumerSettings.from_env()  # a missing variable fails the cold start, by name
logger, metrics = lambda_telemetry(SERVICE, namespace=settings.metrics_namespace, environment=settings.environment)
_workers = ThreadPoolExecutor(max_workers=settings.record_concurrency, thread_name_prefix="record")


@cache
def consumer() -> Consumer:
    """Built on first use rather than at import: AWS clients cost time the import can skip."""
    return consumer_from(settings)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    try:
        consumer()  # build it here, once: worker threads racing into a cold cache would each build one
        records = event["Records"]
        fifo = any(r.get("eventSourceARN", "").endswith(".fifo") for r in records)
        if fifo:
            processor = SqsFifoPartialProcessor(skip_group_on_error=True)
            # An all-failed batch is an answer (every id retried), not an exception.
            processor.raise_on_entire_batch_failure = False
            return process_partial_response(event, _consume_in_order, processor, context)
        return async_process_partial_response(
            event,
            _consume_concurrently,
            AsyncBatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False),
            context,
        )
    except Exception:
        # The batch machinery itself broke (a malformed event): retry every record we can name.
        logger.exception("batch could not be processed")
        records = event.get("Records") if isinstance(event, dict) else None
        ids = [r["messageId"] for r in records or () if isinstance(r, dict) and "messageId" in r]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in ids]}


async def _consume_concurrently(record: SQSRecord) -> Result:
    message = _message(record)
    try:
        result = await asyncio.get_running_loop().run_in_executor(_workers, consumer().consume, message)
    except Exception as error:
        _report_failure(message, error)  # metrics are touched on the event-loop thread only
        raise
    _report(message, result)
    return result


def _consume_in_order(record: SQSRecord) -> Result:
    message = _message(record)
    try:
        result = consumer().consume(message)
    except Exception as error:
        _report_failure(message, error)
        raise
    _report(message, result)
    return result


def _message(record: SQSRecord) -> IncomingMessage:
    metrics.add_metric(name="BacktestRequestsReceived", unit=MetricUnit.Count, value=1)
    return IncomingMessage(
        message_id=record.message_id,
        body=record.body,
        attempt=_attempt(record),
        redelivered=record.raw_event.get("attributes", {}).get("ApproximateReceiveCount", "1") != "1",
    )


def _attempt(record: SQSRecord) -> int:
    """The pipeline's own attempt attribute; a sender's malformed one reads as a first attempt."""
    # Read the raw event: Powertools' message_attributes.get() returns unwrapped dicts.
    value = record.raw_event.get("messageAttributes", {}).get(ATTEMPT_ATTRIBUTE, {}).get("stringValue")
    if value and value.isdigit() and 1 <= int(value) <= 100:
        return int(value)
    if value:
        logger.warning(f"ignored attempt attribute {value[:20]!r}", extra={"message_id": record.message_id})
    return 1


def _report(message: IncomingMessage, result: Result) -> None:
    keys = {"job_id": result.job_id, "message_id": message.message_id, "outcome": result.outcome.value}
    if result.outcome is Outcome.REJECTED:
        _count_failure("InvalidConfig")
        logger.warning(f"request rejected: {result.detail}", extra=keys)
        return
    metrics.add_metric(name=OUTCOME_METRICS[result.outcome], unit=MetricUnit.Count, value=1)
    logger.info(f"request {result.outcome.value.lower()}: {result.detail}", extra=keys)


def _report_failure(message: IncomingMessage, error: Exception) -> None:
    keys = {"message_id": message.message_id}
    if isinstance(error, LaunchError):
        keys["job_id"] = error.job_id
        _count_failure("ECSLaunchError")
        logger.warning(f"launch failed, the message will be retried: {error}", extra=keys)
    else:
        _count_failure("Internal")
        logger.exception("unexpected error; the message will be retried", extra=keys)


def _count_failure(reason: str) -> None:
    # A metric with its own Reason dimension needs its own EMF blob.
    with single_metric(
        name="BacktestRequestsFailed",
        unit=MetricUnit.Count,
        value=1,
        namespace=settings.metrics_namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="Reason", value=reason)
