"""Benchmark of the backtest-consumer Lambda, against a moto server on 127.0.0.1.

Measures, in one run:
- AWS calls per launched job (target <= 3);
- wall time of a batch of 10 against a single job, with 20 ms added to every AWS call
  (target ratio <= 2.5): the bounded concurrency inside a batch at work;
- handler import time against a bare ``import boto3`` (target ratio <= 1.5), from
  ``python -X importtime`` in fresh interpreters;
- peak memory (max RSS) of a process that imports the handler and runs a batch of 10
  (target <= 100 MB).

Run: .venv/bin/python bench/consumer.py   (writes the "Consumer" section of BENCHMARKS.md)
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "lambda_src")]

from botocore.awsrequest import AWSResponse  # noqa: E402

from bench.report import write_section  # noqa: E402
from local_stack.aws import MotoServer, aws_environment  # noqa: E402
from local_stack.resources import create_resources  # noqa: E402

ADDED_LATENCY = 0.020
ROUNDS = 7
TARGETS = {"calls": 3.0, "batch_ratio": 2.5, "import_ratio": 1.5, "memory_mb": 100.0}


def request_body(job_id: str) -> str:
    return json.dumps(
        {
            "job_id": job_id,
            "config": {"strategy": "TrendFollowingStrategy", "symbols": ["BTC/USDT:USDT"], "stoploss": -0.05},
        }
    )


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:backtest-requests",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


class Context:
    function_name = "backtest-consumer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:backtest-consumer"
    aws_request_id = "bench"


def handler_environment(endpoint: str) -> dict[str, str]:
    resources = create_resources(endpoint, env=f"bench{uuid.uuid4().hex[:6]}")
    return {
        **aws_environment(endpoint),
        "ECS_CLUSTER": resources.cluster,
        "ECS_TASK_DEFINITION_ARN": resources.task_definition_arn,
        "ECS_SUBNETS": ",".join(resources.subnets),
        "ECS_SECURITY_GROUPS": ",".join(resources.security_groups),
        "WORKFLOW_STATE_TABLE": resources.table,
        "BACKTEST_QUEUE_URL": resources.queue_url,
        "MAX_CONCURRENT_TASKS": "1000",  # the cap is not what this measures
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines to stdout would only add noise here
    }


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


CANNED = {
    "TransactWriteItems": b"{}",
    "UpdateItem": b"{}",
    "RunTask": json.dumps(
        {"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/bench/0"}], "failures": []}
    ).encode(),
}


def answer_after_latency(request: Any, event_name: str, **_: Any) -> AWSResponse:
    """Stands in for AWS: a well-formed answer after ADDED_LATENCY, with no server CPU in the way."""
    time.sleep(ADDED_LATENCY)
    operation = event_name.rsplit(".", 1)[1]
    headers = {"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "bench"}
    return AWSResponse(request.url, 200, headers, _Body(CANNED[operation]))


def in_process_figures(env: dict[str, str]) -> dict[str, Any]:
    """Calls per job (against moto) and the batch/single latency ratio, through the real handler."""
    os.environ.update(env)
    import boto3

    boto3.setup_default_session()  # the handler's clients come from this session: hooks apply to them
    import backtest_consumer.handler as handler

    # Clients copy their session's hooks when they are built, so both hooks go in first.
    calls: list[str] = []
    latency = {"on": False}
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    boto3.DEFAULT_SESSION.events.register(
        "before-send.*.*", lambda **kwargs: answer_after_latency(**kwargs) if latency["on"] else None
    )

    def run(count_jobs: int) -> float:
        bodies = [request_body(f"bench-{uuid.uuid4().hex[:12]}") for _ in range(count_jobs)]
        started = time.perf_counter()
        response = handler.lambda_handler(sqs_event(bodies), Context())
        elapsed = time.perf_counter() - started
        assert response == {"batchItemFailures": []}, response
        return elapsed

    run(1)  # warm: clients built, connections open
    calls.clear()
    run(10)
    calls_per_job = len(calls) / 10
    operations = sorted(set(calls))

    # The emulator's own CPU time per request would swamp 20 ms; here AWS answers from a hook.
    latency["on"] = True
    singles, batches = [], []
    for _ in range(ROUNDS):
        singles.append(run(1))
        batches.append(run(10))
    return {
        "calls_per_job": calls_per_job,
        "operations": operations,
        "single": statistics.median(singles),
        "batch": statistics.median(batches),
    }


# Where a handler import's time goes, by the top-level package of each module (self time).
IMPORT_GROUPS = {
    "boto3/botocore": ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil"),
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"),
    "Powertools": ("aws_lambda_powertools",),
    "asyncio": ("asyncio",),
    "our code": ("backtest_core", "backtest_consumer"),
}


def import_times(env: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    """Median cumulative import time (ms) of the handler and of boto3 in fresh interpreters,
    and the handler's median time per package group."""

    def measure(module: str) -> tuple[float, dict[str, float]]:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env={**env, "PYTHONPATH": str(REPO / "lambda_src")},
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [line.split("|") for line in result.stderr.splitlines() if line.startswith("import time:")][1:]
        groups = dict.fromkeys([*IMPORT_GROUPS, "other"], 0.0)
        for self_us, _, name in rows:
            package = name.strip().split(".")[0]
            group = next((g for g, members in IMPORT_GROUPS.items() if package in members), "other")
            groups[group] += int(self_us.split(":")[1]) / 1000
        return int(rows[-1][1]) / 1000, groups

    handler_runs, boto3_ms = [], []
    for _ in range(ROUNDS):  # alternate, so machine noise hits both alike
        handler_runs.append(measure("backtest_consumer.handler"))
        boto3_ms.append(measure("boto3")[0])
    groups = {g: statistics.median(run[1][g] for run in handler_runs) for g in handler_runs[0][1]}
    return statistics.median(run[0] for run in handler_runs), statistics.median(boto3_ms), groups


# The child imports only what the Lambda would: the handler, and the event from stdin.
PEAK_MEMORY_CHILD = """
import json, sys
# Linux carries the parent's peak RSS over fork/exec; "5" resets this process's peak (VmHWM).
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
import backtest_consumer.handler as handler
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "backtest-consumer", 256, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:backtest-consumer"
response = handler.lambda_handler(json.load(sys.stdin), Context())
assert response == {"batchItemFailures": []}, response
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024)
"""


def peak_memory_mb(env: dict[str, str]) -> float:
    event = sqs_event([request_body(f"mem-{uuid.uuid4().hex[:12]}") for _ in range(10)])
    result = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_CHILD],
        env={**env, "PYTHONPATH": str(REPO / "lambda_src")},
        input=json.dumps(event),
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"memory probe failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "**missed**"


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    server = MotoServer()
    server.start()
    try:
        env = {**os.environ, **handler_environment(server.endpoint)}
        memory = peak_memory_mb(env)
        handler_ms, boto3_ms, import_groups = import_times(env)
        figures = in_process_figures(env)
    finally:
        server.stop()

    batch_ratio = figures["batch"] / figures["single"]
    import_ratio = handler_ms / boto3_ms
    lines = [
        "## Consumer (bench/consumer.py)",
        "",
        f"backtest-consumer's handler against a moto server on 127.0.0.1; {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; medians of {ROUNDS} rounds.",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| AWS calls per launched job | {figures['calls_per_job']:.1f} ({', '.join(figures['operations'])}) "
        f"| <= {TARGETS['calls']:.0f} | {verdict(figures['calls_per_job'], TARGETS['calls'])} |",
        f"| batch of 10 / single job, +{ADDED_LATENCY * 1000:.0f} ms per AWS call "
        f"| {batch_ratio:.2f} ({figures['batch'] * 1000:.0f} ms / {figures['single'] * 1000:.0f} ms) "
        f"| <= {TARGETS['batch_ratio']} | {verdict(batch_ratio, TARGETS['batch_ratio'])} |",
        f"| handler import / bare `import boto3` | {import_ratio:.2f} ({handler_ms:.0f} ms / {boto3_ms:.0f} ms) "
        f"| <= {TARGETS['import_ratio']} | {verdict(import_ratio, TARGETS['import_ratio'])} |",
        f"| peak memory, import + batch of 10 (max RSS) | {memory:.0f} MB | <= {TARGETS['memory_mb']:.0f} MB "
        f"| {verdict(memory, TARGETS['memory_mb'])} |",
        "",
        "Handler import time by package (median self time): "
        + ", ".join(f"{group} {ms:.0f} ms" for group, ms in import_groups.items())
        + ".",
        f"The target allows {(TARGETS['import_ratio'] - 1) * boto3_ms:.0f} ms beyond boto3. pydantic and Powertools "
        f"(its batch module brings asyncio), the libraries the project standardizes on, take "
        f"{import_groups['pydantic'] + import_groups['Powertools'] + import_groups['asyncio']:.0f} ms on their own; "
        f"our code, mostly building the request's pydantic models, {import_groups['our code']:.0f} ms.",
        "",
        "Calls per job and peak memory run against the emulator. The batch/single ratio runs the same handler",
        "and botocore clients, with every AWS call answered by a botocore hook after 20 ms, so the emulator's",
        "own CPU time does not stand in for AWS latency. Import time is the cumulative `-X importtime` figure",
        "of the top-level import; the handler builds its AWS clients on first use, so client creation is in",
        "neither import figure.",
    ]
    print("\n".join(lines))
    write_section("consumer", "\n".join(lines))


if __name__ == "__main__":
    main()
