"""Plays the SQS event source mapping of the consumer Lambda.

Receive up to 10 messages, build the event Lambda would (moto's own SQS->Lambda wiring
HTML-escapes bodies, so the event is built here), invoke the handler, delete the records that
are not in ``batchItemFailures`` and leave the failures to come back after the visibility
timeout; the queue's redrive policy moves a message received too often to the DLQ.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local_stack.aws import REGION
from local_stack.faults import FaultSwitches

log = logging.getLogger("local_stack.poller")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Lambda's SQS event for received messages (message attributes in Lambda's shape)."""
    return {"Records": [sqs_record(m, queue_arn) for m in messages]}


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = {
        key: value
        for key, value in message.get("Attributes", {}).items()
        if key
        in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
            "AWSTraceHeader",
        )
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class Poller:
    """``workers`` concurrent pollers, like the mapping's concurrent invocations."""

    def __init__(
        self,
        sqs: Any,
        *,
        queue_url: str,
        queue_arn: str,
        invoke: Callable[[dict[str, Any]], Any],
        faults: FaultSwitches,
        workers: int = 2,
        batch_size: int = 10,
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn
        self._invoke = invoke
        self._faults = faults
        self._workers = workers
        self._batch = batch_size
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._twins = ThreadPoolExecutor(max_workers=2, thread_name_prefix="twin-delivery")
        self._lock = threading.Lock()
        self.batches = 0
        self.records = 0
        self.failed_records = 0
        self.twin_deliveries = 0

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(target=self._run, name=f"sqs-poller-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._twins.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:
                log.exception("poll failed; retrying")
                self._stop.wait(1)

    def poll_once(self, *, wait_seconds: int = 0) -> int:
        messages = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(messages, self._arn)
        twins = [
            self._twins.submit(self._invoke, sqs_event([m], self._arn))
            for m in messages
            if self._faults.duplicates(m["MessageId"])
        ]
        response = self._invoke(event)
        failed = self._failures(response, messages)
        if failed:
            log.info("batch of %s: %s left for redelivery (%s)", len(messages), len(failed), response)
        for twin in twins:
            # the twin delivery's verdict counts too: a failure there leaves the message as well
            failed |= self._failures(twin.result(), messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        with self._lock:
            self.batches += 1
            self.records += len(messages)
            self.failed_records += len(failed)
            self.twin_deliveries += len(twins)
        return len(messages)

    @staticmethod
    def _failures(response: Any, messages: list[dict[str, Any]]) -> set[str]:
        """The message ids to leave on the queue. Like the event source mapping, a response
        that is not a valid partial-failure answer fails the whole batch."""
        ids = {m["MessageId"] for m in messages}
        try:
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except (AttributeError, KeyError, TypeError):
            return ids
        return failed if failed <= ids else ids
