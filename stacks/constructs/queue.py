"""The request queue and its dead-letter queue (where the DLQ is defined)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.common import removal as removal_policy
from stacks.settings import Settings


class RequestQueue(Construct):
    """Backtest requests: SSE, TLS-only, redrive to a DLQ after ``max_receive_count`` receives."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        names = settings.names
        removal = removal_policy(settings)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=names.dead_letter_queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # the maximum: time to inspect and redrive
            removal_policy=removal,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=names.queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # >= 6x the consumer timeout, so a batch in flight is never delivered twice by timeout.
            visibility_timeout=Duration.seconds(settings.queue_visibility_seconds),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=settings.max_receive_count
            ),
            removal_policy=removal,
        )
