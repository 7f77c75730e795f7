"""Shapes shared by unit and integration tests: SQS events and the seed's example request."""

from __future__ import annotations

import uuid
from typing import Any

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
        "config": {
            "strategy": "TrendFollowingStrategy",
            "timeframe": "1h",
            "start_date": "2024-01-01",
            "end_date": "2024-03-01",
            "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
            "stoploss": -0.05,
            "stake_amount": 1000.0,
            **config,
        },
        "experiment_name": "seed-example",
        "priority": 0,
        "submitted_at": "2024-01-01T00:00:00Z",
    }
    if job_id:
        body["job_id"] = job_id
    return body
