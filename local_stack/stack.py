"""The local stack: emulator, resources, the three Lambda functions, poller, executor and
reconciler schedule, started and stopped as one thing."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from local_stack.aws import MotoServer, aws_environment, client
from local_stack.executor import Executor, peak_overlap, runner_base_environment
from local_stack.faults import Boto3WithLocalEcs, FaultSwitches
from local_stack.lambdas import REPO, LocalFunction, install_boto3_shim
from local_stack.poller import Poller
from local_stack.resources import LOCAL_ENV, Resources, create_resources

log = logging.getLogger("local_stack")

RUNNER_PYTHON = REPO / ".venv-runner" / "bin" / "python"
STATE_FILE = "state.json"
STATS_FILE = "stats.json"


def real_runner_command() -> list[str]:
    return [str(RUNNER_PYTHON), "-m", "backtest_runner"]


def standin_runner_command(seconds: float = 0.2) -> list[str]:
    """A runner that only sleeps and exits 0: measures the pipeline, not freqtrade."""
    return [sys.executable, "-m", "local_stack.standin_runner", str(seconds)]


@dataclass
class StackConfig:
    state_dir: Path
    max_concurrent_tasks: int = 10
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)  # runner processes at once
    runner_command: list[str] = field(default_factory=real_runner_command)
    data_dir: Path | None = None  # freqtrade data directory of the exchange (binance/)
    allow_download: bool = False
    candles: dict[str, Any] = field(default_factory=dict)  # where the candles come from
    faults: FaultSwitches = field(default_factory=FaultSwitches)
    visibility_timeout: int = 5
    defer_delay_seconds: int = 2
    max_attempts: int = 3
    poller_workers: int = 2
    reconcile_every_seconds: float = 15.0
    interrupt_after_seconds: float = 2.0
    port: int | None = None

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["state_dir"] = str(self.state_dir)
        described["data_dir"] = str(self.data_dir) if self.data_dir else None
        return described


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.server = MotoServer(config.port)
        self.resources: Resources | None = None
        self.poller: Poller | None = None
        self.executor: Executor | None = None
        self._boto3_shim: Boto3WithLocalEcs | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._launch_times: dict[str, float] = {}
        self.started_at = time.time()

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    # --- start / stop ------------------------------------------------------------------

    def start(self) -> LocalStack:
        config = self.config
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.server.start()
        os.environ.update(aws_environment(self.endpoint))
        self.resources = res = create_resources(self.endpoint, visibility_timeout=config.visibility_timeout)

        common = {
            "WORKFLOW_STATE_TABLE": res.table,
            "ECS_CLUSTER": res.cluster,
            "BACKTEST_QUEUE_URL": res.queue_url,
            "ENVIRONMENT": LOCAL_ENV,
            "MAX_ATTEMPTS": str(config.max_attempts),
        }
        # The Lambda code's boto3 clients are the real ones except ECS (clientToken, drills):
        # swapped where the functions create their clients, before the handlers are imported.
        self._boto3_shim = Boto3WithLocalEcs(config.faults, on_launch=self._note_launch)
        install_boto3_shim(self._boto3_shim)
        consumer = LocalFunction(
            "backtest-consumer-local",
            "backtest_consumer.handler",
            timeout_seconds=300,
            environment={
                **common,
                "ECS_TASK_DEFINITION_ARN": res.task_definition_arn,
                "ECS_SUBNETS": ",".join(res.subnets),
                "ECS_SECURITY_GROUPS": ",".join(res.security_groups),
                "MAX_CONCURRENT_TASKS": str(config.max_concurrent_tasks),
                "DEFER_DELAY_SECONDS": str(config.defer_delay_seconds),
            },
        )
        self.consumer = consumer
        self.task_events = LocalFunction(
            "backtest-task-events-local", "task_events.handler", timeout_seconds=60, environment=common
        )
        self.reconciler = LocalFunction(
            "backtest-reconciler-local",
            "reconciler.handler",
            timeout_seconds=300,
            environment={**common, "MAX_TASK_DURATION_MINUTES": "120"},
        )

        self.poller = Poller(
            client("sqs", self.endpoint),
            queue_url=res.queue_url,
            queue_arn=res.queue_arn,
            invoke=consumer.invoke,
            faults=config.faults,
            workers=config.poller_workers,
        )
        runner_env = {
            **runner_base_environment(),
            **aws_environment(self.endpoint),
            "PYTHONPATH": os.pathsep.join([str(REPO / "runner"), str(REPO)]),
            "PYTHONUNBUFFERED": "1",
            "ALLOW_DOWNLOAD": "true" if config.allow_download else "false",
        }
        if config.data_dir:
            runner_env["DATA_DIR"] = str(config.data_dir)  # the local "volume" with candles
        self.executor = Executor(
            client("ecs", self.endpoint),
            cluster=res.cluster,
            container_name=res.container_name,
            runner_command=config.runner_command,
            base_environment=runner_env,
            workers=config.workers,
            work_dir=self.state_dir,
            faults=config.faults,
            deliver=self.task_events.invoke,
            launched_at=self._launch_times.get,
            interrupt_after_seconds=config.interrupt_after_seconds,
        )
        if config.allow_download and not config.data_dir:
            self.executor.env_overrides["DATA_BUCKET"] = ""  # the runner downloads only without a bucket
        (self.state_dir / "runs.jsonl").unlink(missing_ok=True)
        self.poller.start()
        self.executor.start()
        self._spawn(self._reconcile_loop, "reconciler-schedule")
        self._spawn(self._stats_loop, "stats")
        self.write_state()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.poller:
            self.poller.stop()
        if self.executor:
            self.executor.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.write_stats()
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)
        self.server.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- loops ---------------------------------------------------------------------------

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _reconcile_loop(self) -> None:
        while not self._stop.wait(self.config.reconcile_every_seconds):
            try:
                self.reconciler.invoke(scheduled_event())
            except Exception:
                log.exception("reconciler failed")

    def _stats_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.write_stats()
            except Exception:
                log.exception("writing stats failed")

    def _note_launch(self, task_arn: str, moment: float) -> None:
        self._launch_times.setdefault(task_arn, moment)

    # --- state for clients ---------------------------------------------------------------

    def write_state(self) -> None:
        assert self.resources is not None
        state = {
            "endpoint": self.endpoint,
            "region": "us-east-1",
            "pid": os.getpid(),
            "started_at": self.started_at,
            "resources": self.resources.as_dict(),
            "config": self.config.describe(),
            "data": self.config.candles or data_provenance(self.config.data_dir),
        }
        _write_json(self.state_dir / STATE_FILE, state)

    def stats(self) -> dict[str, Any]:
        assert self.executor is not None and self.poller is not None
        runs = self.executor.runs()
        now = time.time()
        intervals = [(self._launch_times.get(r["task_arn"], r["created_at"]), r["stopped_at"] or now) for r in runs]
        ecs = self._boto3_shim.ledger if self._boto3_shim else None
        return {
            "at": now,
            "peak_concurrent_tasks": peak_overlap(intervals),
            "peak_running_processes": self.executor.peak_running,
            "peak_live_tasks_sampled": self.executor.peak_live_tasks,
            "tasks_started": len(runs),
            "tasks_active": self.executor.active_count(),
            "undelivered_task_events": self.executor.undelivered_events,
            "poller": {
                "batches": self.poller.batches,
                "records": self.poller.records,
                "failed_records": self.poller.failed_records,
                "twin_deliveries": self.poller.twin_deliveries,
            },
            "ecs": {
                "refused_launches": ecs.refused_launches if ecs else 0,
                "client_token_replays": ecs.token_replays if ecs else 0,
            },
            "lambda": {
                fn.name: {"invocations": fn.invocations, "errors": fn.errors}
                for fn in (self.consumer, self.task_events, self.reconciler)
            },
        }

    def write_stats(self) -> None:
        if self.executor is not None:
            _write_json(self.state_dir / STATS_FILE, self.stats())


def scheduled_event() -> dict[str, Any]:
    from local_stack.events import iso

    return {
        "version": "0",
        "id": os.urandom(16).hex(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": iso(time.time()),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/backtest-reconcile-local"],
        "detail": {},
    }


def data_provenance(data_dir: Path | None) -> dict[str, Any]:
    """What the candles are: the generator's marker file says synthetic."""
    from local_stack.candles import read_marker

    if data_dir is None:
        return {"kind": "none", "path": None}
    marker = read_marker(data_dir)
    if marker:
        return {"kind": "synthetic", "path": str(data_dir), **marker}
    return {"kind": "directory", "path": str(data_dir)}


def _write_json(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2, default=str))
    temporary.replace(path)
