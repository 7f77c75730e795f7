"""Where the pipeline is: a deployed environment (its CloudFormation outputs) or the local
stack (its state file). Either way the CLI gets boto3 clients and resource names."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "lambda_src", REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from backtest_core.adapters.ecs_tasks import EcsTaskControl  # noqa: E402
from backtest_core.adapters.job_table import DynamoJobTable  # noqa: E402
from backtest_core.adapters.request_queue import SqsRequestQueue  # noqa: E402
from backtest_core.lifecycle import TaskLifecycle  # noqa: E402

DEFAULT_STATE_DIR = REPO / ".local-stack"
CONTAINER_NAME = "runner"


class BackendError(Exception):
    """The pipeline cannot be found; the message says what to do."""


@dataclass
class Backend:
    label: str
    queue_url: str
    dlq_url: str
    table: str
    results_bucket: str
    cluster: str
    session_kwargs: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # local: where the candles come from
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(retries={"mode": "standard", "max_attempts": 5})
            self._clients[service] = boto3.client(service, config=config, **self.session_kwargs)
        return self._clients[service]

    @property
    def jobs(self) -> DynamoJobTable:
        return DynamoJobTable(self.client("dynamodb"), self.table)

    def lifecycle(self) -> TaskLifecycle:
        tasks = EcsTaskControl(self.client("ecs"), cluster=self.cluster)
        return TaskLifecycle(jobs=self.jobs, queue=SqsRequestQueue(self.client("sqs"), self.queue_url), tasks=tasks)


def stack_alive(state: dict[str, Any]) -> bool:
    """Is the process that wrote this state file still running?"""
    try:
        os.kill(int(state["pid"]), 0)
    except (KeyError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def local_backend(state_dir: Path = DEFAULT_STATE_DIR) -> Backend:
    state_file = state_dir / "state.json"
    if not state_file.is_file():
        raise BackendError(
            f"no local stack is running ({state_file} is missing): start one with "
            "`python -m backtest_cli up` (or use --env ENV for a deployed environment)"
        )
    state = json.loads(state_file.read_text())
    if not stack_alive(state):
        raise BackendError(
            f"{state_file} names a local stack (pid {state.get('pid')}) that is no longer running: "
            "start one with `python -m backtest_cli up`"
        )
    resources = state["resources"]
    return Backend(
        label=f"local stack at {state['endpoint']}",
        queue_url=resources["queue_url"],
        dlq_url=resources["dlq_url"],
        table=resources["table"],
        results_bucket=resources["results_bucket"],
        cluster=resources["cluster"],
        session_kwargs={
            "endpoint_url": state["endpoint"],
            "region_name": state.get("region", "us-east-1"),
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        },
        data=state.get("data", {}),
    )


def deployed_backend(env: str, region: str | None = None) -> Backend:
    """Resources from the CloudFormation outputs of ``backtest-pipeline-<env>``."""
    from stacks.settings import Names

    stack = Names(env).stack
    kwargs = {"region_name": region} if region else {}
    try:
        described = boto3.client("cloudformation", **kwargs).describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as error:  # no credentials, no such stack, no network
        raise BackendError(f"cannot read stack {stack}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    needed = ("QueueUrl", "DeadLetterQueueUrl", "JobTableName", "ResultsBucketName", "ClusterName")
    missing = [key for key in needed if key not in outputs]
    if missing:
        raise BackendError(f"stack {stack} has no output {', '.join(missing)}; is it deployed from this version?")
    return Backend(
        label=f"environment {env} (stack {stack})",
        queue_url=outputs["QueueUrl"],
        dlq_url=outputs["DeadLetterQueueUrl"],
        table=outputs["JobTableName"],
        results_bucket=outputs["ResultsBucketName"],
        cluster=outputs["ClusterName"],
        session_kwargs=kwargs,
    )
