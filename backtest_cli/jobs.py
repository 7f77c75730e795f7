"""What the CLI does, apart from its flags: send requests, read jobs, follow them, fetch results."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtest_cli.backend import Backend
from backtest_core.adapters.job_table import SLOT_RECORD_KEY
from backtest_core.jobs import TERMINAL, JobStatus
from backtest_core.request import derived_job_id, parse_request

ACTIVE = (JobStatus.RECEIVED, JobStatus.DEFERRED, JobStatus.LAUNCHED, JobStatus.RUNNING, JobStatus.INTERRUPTED)


def validate(document: Any) -> None:
    """The consumer's own rules, checked before sending; raises ``RequestRejected``."""
    body = document if isinstance(document, str) else json.dumps(document)
    parse_request(body, message_id=f"cli-check-{uuid.uuid4()}")


def send(backend: Backend, document: Any, *, check: bool = True) -> str:
    """Send one request; returns the job id it will run under."""
    body = document if isinstance(document, str) else json.dumps(document)
    if check:
        validate(body)
    response = backend.client("sqs").send_message(QueueUrl=backend.queue_url, MessageBody=body)
    stated = document.get("job_id") if isinstance(document, dict) else None
    return str(stated) if stated else derived_job_id(response["MessageId"])


def get_job(backend: Backend, job_id: str) -> dict[str, Any] | None:
    return backend.jobs.get(job_id)


def list_jobs(backend: Backend, statuses: Iterable[JobStatus] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Jobs newest first, by the status index."""
    found: list[dict[str, Any]] = []
    for status in statuses or list(JobStatus):
        found.extend(backend.jobs.jobs_with_status(status, limit=limit))
    found = [job for job in found if job.get("job_id") != SLOT_RECORD_KEY]
    found.sort(key=lambda job: str(job.get("received_at", "")), reverse=True)
    return found[:limit]


def is_done(job: dict[str, Any] | None) -> bool:
    return job is not None and job.get("status") in {s.value for s in TERMINAL}


def wait_for(
    backend: Backend, job_ids: list[str], timeout: float, poll: float = 1.0
) -> dict[str, dict[str, Any] | None]:
    """Poll until every job is in an end state (or the timeout); returns the last reads."""
    deadline = time.monotonic() + timeout
    jobs: dict[str, dict[str, Any] | None] = {}
    while True:
        jobs = {job_id: get_job(backend, job_id) for job_id in job_ids}
        if all(is_done(job) for job in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(poll)


def result_files(backend: Backend, job_id: str) -> list[dict[str, Any]]:
    s3 = backend.client("s3")
    files: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=backend.results_bucket, Prefix=f"{job_id}/"):
        files.extend({"key": o["Key"], "size": o["Size"]} for o in page.get("Contents", []))
    return files


def download_results(backend: Backend, job_id: str, target: Path) -> list[Path]:
    s3 = backend.client("s3")
    saved = []
    for item in result_files(backend, job_id):
        destination = target / item["key"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(backend.results_bucket, item["key"], str(destination))
        saved.append(destination)
    return saved


def dlq_depth(backend: Backend) -> int:
    attributes = backend.client("sqs").get_queue_attributes(
        QueueUrl=backend.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def plain(value: Any) -> Any:
    """DynamoDB values as JSON-friendly Python (Decimal -> int/float, sets -> lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value
