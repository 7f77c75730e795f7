"""The backtest request queue, for messages the pipeline sends itself (deferrals, retries)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

ATTEMPT_ATTRIBUTE = "attempt"
MAX_DELAY_SECONDS = 900  # SQS's limit


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class SqsRequestQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._fifo = queue_url.endswith(".fifo")

    def send(self, message: dict[str, Any], *, delay_seconds: int, attempt: int) -> None:
        params: dict[str, Any] = {
            "QueueUrl": self._url,
            "MessageBody": json.dumps(message, default=_json_default),
            # Pipeline bookkeeping travels beside the body, so the request format stays the user's.
            "MessageAttributes": {ATTEMPT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(attempt)}},
        }
        if self._fifo:
            # FIFO queues take no per-message delay. Each send here is a deliberate new message
            # (a deferral may repeat for one attempt), so it must not be deduplicated away.
            params["MessageGroupId"] = message["job_id"]
            params["MessageDeduplicationId"] = uuid.uuid4().hex
        else:
            params["DelaySeconds"] = min(delay_seconds, MAX_DELAY_SECONDS)
        self._sqs.send_message(**params)
