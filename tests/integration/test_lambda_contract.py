"""The consumer handler on the SQS events the local stack builds (Lambda's real shape), in a clean
process. Guards a bug found here: the attempt attribute read with Powertools' ``.get(...)``
(a raw dict) failed every deferred or re-queued message until it reached the DLQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local_stack.lambdas import REPO

CHECK = """
import json, sys
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from local_stack.poller import sqs_record
import backtest_consumer.handler as handler

message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}",
           "Attributes": {"ApproximateReceiveCount": "1"},
           "MessageAttributes": {"attempt": {"DataType": "Number", "StringValue": "2"}}}
record = SQSRecord(sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:backtest-requests-local"))
print(json.dumps({"attempt": handler._message(record).attempt}))
"""


def test_consumer_reads_the_attempt_attribute_of_a_requeued_message() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "lambda_src")]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing is called; never the real AWS
        "ECS_CLUSTER": "c",
        "ECS_TASK_DEFINITION_ARN": "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1",
        "ECS_SUBNETS": "subnet-1",
        "ECS_SECURITY_GROUPS": "sg-1",
        "WORKFLOW_STATE_TABLE": "t",
        "BACKTEST_QUEUE_URL": "http://127.0.0.1:9/123456789012/q",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"attempt": 2}
