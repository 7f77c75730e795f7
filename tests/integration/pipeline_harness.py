"""Helpers for the local-stack integration tests: start a stack as a child process, submit
through the CLI's own functions, and read back jobs, runs and figures."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from backtest_cli.backend import Backend, local_backend
from backtest_cli.jobs import dlq_depth, get_job, is_done, send
from local_stack.lambdas import REPO
from local_stack.process import StackProcess
from local_stack.stack import RUNNER_PYTHON

SHARED_TESTDATA = REPO.parent / "shared" / "data" / "freqtrade-testdata"


def require_runner_venv() -> None:
    if not RUNNER_PYTHON.is_file():
        pytest.skip(f"the runner's environment is missing ({RUNNER_PYTHON}); run `make venv`")


class Pipeline:
    """A running local stack and a CLI backend pointed at it."""

    def __init__(self, state_dir: Path, args: list[str]) -> None:
        self.process = StackProcess(state_dir, args)
        self.backend: Backend | None = None

    def __enter__(self) -> Pipeline:
        self.process.start()
        self.backend = local_backend(self.process.state_dir)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    @property
    def state(self) -> dict[str, Any]:
        return self.process.state

    def send(self, document: Any, *, check: bool = False) -> str:
        assert self.backend is not None
        return send(self.backend, document, check=check)

    def send_raw(self, body: str) -> str:
        assert self.backend is not None
        return str(
            self.backend.client("sqs").send_message(QueueUrl=self.backend.queue_url, MessageBody=body)["MessageId"]
        )

    def job(self, job_id: str) -> dict[str, Any] | None:
        assert self.backend is not None
        return get_job(self.backend, job_id)

    def all_jobs(self) -> dict[str, dict[str, Any]]:
        assert self.backend is not None
        ddb = self.backend.client("dynamodb").get_paginator("scan")
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        jobs = {}
        for page in ddb.paginate(TableName=self.backend.table):
            for item in page["Items"]:
                job = {k: des.deserialize(v) for k, v in item.items()}
                if not str(job["job_id"]).startswith("#"):
                    jobs[job["job_id"]] = job
        return jobs

    def wait_until_settled(self, job_ids: list[str], timeout: float) -> dict[str, dict[str, Any] | None]:
        """Every job in an end state, and the stack idle (no task active, queue drained)."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = {job_id: self.job(job_id) for job_id in job_ids}
            stats = self.process.stats()
            idle = stats.get("tasks_active", 1) == 0 and self.queue_empty()
            if all(is_done(job) for job in jobs.values()) and idle:
                return jobs
            if time.monotonic() > deadline:
                pending = {k: (v or {}).get("status") for k, v in jobs.items() if not is_done(v)}
                raise AssertionError(
                    f"not settled after {timeout:.0f} s: {pending}; stats {json.dumps(stats)}\n{self.process.output()}"
                )
            time.sleep(1.0)

    def queue_empty(self) -> bool:
        assert self.backend is not None
        attributes = self.backend.client("sqs").get_queue_attributes(
            QueueUrl=self.backend.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(value == "0" for value in attributes.values())

    def dlq_depth(self) -> int:
        assert self.backend is not None
        return dlq_depth(self.backend)

    def runs_by_job(self) -> dict[str, list[dict[str, Any]]]:
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in self.process.runs():
            runs[run["job_id"]].append(run)
        return dict(runs)

    def stats(self) -> dict[str, Any]:
        return self.process.stats()


def successful_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r["exit_code"] == 0 and r["stop_code"] == "EssentialContainerExited"]


def overlapping(runs: list[dict[str, Any]]) -> bool:
    """Did two runs of one job ever run at the same time?"""
    spans = sorted((r["started_at"], r["ended_at"] or r["stopped_at"]) for r in runs if r["started_at"])
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


def error_fields(job: dict[str, Any]) -> set[str]:
    return {e["field"] for e in job.get("errors", [])}
