"""Plays Fargate: runs the runner as a subprocess for every task the consumer started.

Each tick: list the cluster's tasks that ECS (moto) wants RUNNING, start a runner process for
each new one while a worker is free (the rest wait as PROVISIONING, like a task waiting for
capacity), deliver a RUNNING event when the process starts and a STOPPED event (with the exit
code) when it ends, and stop the task in moto. A task stopped from outside (``backtest
cancel`` calls StopTask) gets SIGTERM, as ECS sends it. With the interrupt switch on, a share
of tasks is taken back as Spot does: SIGTERM mid-run, stopCode ``SpotInterruption``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.events import CONTAINER_EXITED, SPOT_INTERRUPTED, task_state_change
from local_stack.faults import FaultSwitches

log = logging.getLogger("local_stack.executor")

# ECS event versions grow with each change of a task (PROVISIONING 1, PENDING 2, RUNNING 3, ...).
RUNNING_VERSION = 3
STOPPED_VERSION = 6


@dataclass
class TaskRun:
    """One ECS task as the executor follows it."""

    task: dict[str, Any]
    created_at: float
    environment: dict[str, str]
    state: str = "PROVISIONING"  # -> RUNNING -> STOPPED
    process: subprocess.Popen[bytes] | None = None
    started_at: float | None = None
    ended_at: float | None = None
    stopped_at: float | None = None
    interrupt_at: float | None = None
    kill_at: float | None = None
    stop_code: str = "EssentialContainerExited"
    stopped_reason: str = CONTAINER_EXITED
    exit_code: int | None = None
    interrupted: bool = False  # by the Spot drill
    stopping: bool = False  # SIGTERM sent; waiting for the process to end
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return str(self.task["taskArn"])

    @property
    def job_id(self) -> str:
        return self.environment.get("JOB_ID") or str(self.task.get("startedBy", ""))

    @property
    def attempt(self) -> int:
        return int(self.environment.get("ATTEMPT", "1"))

    def record(self) -> dict[str, Any]:
        return {
            "task_arn": self.arn,
            "job_id": self.job_id,
            "attempt": self.attempt,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "stopped_at": self.stopped_at,
            "exit_code": self.exit_code,
            "stop_code": self.stop_code,
            "stopped_reason": self.stopped_reason,
            "interrupted": self.interrupted,
            "log": str(self.log_path) if self.log_path else None,
        }


class Executor:
    def __init__(
        self,
        ecs: Any,
        *,
        cluster: str,
        container_name: str,
        runner_command: list[str],
        base_environment: dict[str, str],
        workers: int,
        work_dir: Path,
        faults: FaultSwitches,
        deliver: Callable[[dict[str, Any]], Any],
        launched_at: Callable[[str], float | None] = lambda arn: None,
        interrupt_after_seconds: float = 2.0,
        stop_timeout_seconds: float = 30.0,
        tick_seconds: float = 0.2,
    ) -> None:
        self._ecs = ecs
        self._cluster = cluster
        self._container = container_name
        self._command = runner_command
        self._base_env = base_environment
        self.workers = workers
        self._dir = work_dir
        self._faults = faults
        self._deliver = deliver
        self._launched_at = launched_at
        self._interrupt_after = interrupt_after_seconds
        self._stop_timeout = stop_timeout_seconds
        self._tick = tick_seconds
        self.env_overrides: dict[str, str] = {}
        self._definitions: dict[str, dict[str, str]] = {}
        self._runs: dict[str, TaskRun] = {}
        self._pending: deque[str] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._runs_log = work_dir / "runs.jsonl"
        self.peak_running = 0
        self.peak_live_tasks = 0
        self.undelivered_events = 0
        work_dir.mkdir(parents=True, exist_ok=True)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fargate-executor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following tasks; runner processes still going are terminated."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for run in self._runs.values():
            if run.process and run.process.poll() is None:
                run.process.terminate()
                try:
                    run.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    run.process.kill()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("executor tick failed; continuing")
            self._stop.wait(self._tick)

    # --- one tick ----------------------------------------------------------------------

    def tick(self) -> None:
        live = self._live_task_arns()
        self.peak_live_tasks = max(self.peak_live_tasks, len(live))
        new = [arn for arn in live if arn not in self._runs]
        for task in self._describe(new):
            self._runs[task["taskArn"]] = TaskRun(
                task=task,
                created_at=self._launched_at(task["taskArn"]) or time.time(),
                environment=self._task_environment(task),
            )
            self._pending.append(task["taskArn"])
        for run in list(self._runs.values()):
            if run.state != "STOPPED" and run.arn not in live and not run.stopping:
                self._stopped_from_outside(run)
        while self._pending and self.running_count() < self.workers:
            run = self._runs[self._pending.popleft()]
            if run.state == "PROVISIONING":
                self._launch(run)
        now = time.monotonic()
        for run in list(self._runs.values()):
            if run.state != "RUNNING" or run.process is None:
                continue
            if run.interrupt_at is not None and now >= run.interrupt_at and not run.stopping:
                self._interrupt(run)
            if run.kill_at is not None and now >= run.kill_at and run.process.poll() is None:
                run.process.kill()  # ECS sends SIGKILL when stopTimeout runs out
            if run.process.poll() is not None:
                self._finish(run)

    def running_count(self) -> int:
        return sum(1 for run in self._runs.values() if run.state == "RUNNING")

    def active_count(self) -> int:
        return sum(1 for run in self._runs.values() if run.state != "STOPPED")

    def runs(self) -> list[dict[str, Any]]:
        return [run.record() | {"state": run.state} for run in self._runs.values()]

    # --- ECS side ----------------------------------------------------------------------

    def _live_task_arns(self) -> list[str]:
        arns: list[str] = []
        for page in self._ecs.get_paginator("list_tasks").paginate(cluster=self._cluster, desiredStatus="RUNNING"):
            arns.extend(page["taskArns"])
        return arns

    def _describe(self, arns: list[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            tasks.extend(self._ecs.describe_tasks(cluster=self._cluster, tasks=arns[start : start + 100])["tasks"])
        return tasks

    def _task_environment(self, task: dict[str, Any]) -> dict[str, str]:
        """The container's environment: the task definition's, then the task's overrides."""
        arn = task["taskDefinitionArn"]
        if arn not in self._definitions:
            definition = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            container = next(c for c in definition["containerDefinitions"] if c["name"] == self._container)
            self._definitions[arn] = {e["name"]: e["value"] for e in container.get("environment", [])}
        environment = dict(self._definitions[arn])
        for override in task.get("overrides", {}).get("containerOverrides", []):
            if override.get("name") == self._container:
                environment.update({e["name"]: e["value"] for e in override.get("environment", [])})
        return environment

    def _stop_in_ecs(self, run: TaskRun, reason: str) -> None:
        try:
            self._ecs.stop_task(cluster=self._cluster, task=run.arn, reason=reason[:255])
        except Exception:
            log.exception("stop_task %s failed", run.arn)

    # --- process side --------------------------------------------------------------------

    def _launch(self, run: TaskRun) -> None:
        task_id = run.arn.rsplit("/", 1)[-1]
        work = self._dir / "tasks" / task_id
        work.mkdir(parents=True, exist_ok=True)
        run.log_path = work / "runner.log"
        # the container's own scratch space, and what the local stack overrides (e.g. no DATA_BUCKET
        # when candles are to be downloaded)
        environment = {**self._base_env, **run.environment, "WORK_DIR": str(work / "work"), **self.env_overrides}
        try:
            with open(run.log_path, "ab") as output:
                run.process = subprocess.Popen(
                    self._command, cwd=work, env=environment, stdout=output, stderr=subprocess.STDOUT
                )
        except OSError as error:
            run.state, run.stopped_at = "STOPPED", time.time()
            run.stop_code, run.stopped_reason = "TaskFailedToStart", f"CannotStartContainerError: {error}"
            self._stop_in_ecs(run, run.stopped_reason)
            self._emit(run, "STOPPED")
            self._write_record(run)
            return
        run.state, run.started_at = "RUNNING", time.time()
        if self._faults.interrupts(run.arn):
            run.interrupt_at = time.monotonic() + self._interrupt_after
        self.peak_running = max(self.peak_running, self.running_count())
        log.info("task %s started for job %s (attempt %s)", task_id, run.job_id, run.attempt)
        self._emit(run, "RUNNING")

    def _interrupt(self, run: TaskRun) -> None:
        """Spot takes the capacity back: the two-minute warning is a SIGTERM to the container."""
        assert run.process is not None
        run.interrupted = run.stopping = True
        run.stop_code, run.stopped_reason = "SpotInterruption", SPOT_INTERRUPTED
        run.kill_at = time.monotonic() + self._stop_timeout
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
        log.info("task %s interrupted (Spot drill)", run.arn)

    def _stopped_from_outside(self, run: TaskRun) -> None:
        """StopTask from someone else (a cancel, the reconciler's time limit)."""
        described = self._describe([run.arn])
        reason = (described[0].get("stoppedReason") if described else None) or "Task stopped by user"
        run.stop_code, run.stopped_reason = "UserInitiated", reason
        run.stopping = True
        if run.process is None:
            run.state, run.stopped_at = "STOPPED", time.time()
            self._emit(run, "STOPPED")
            self._write_record(run)
            return
        run.kill_at = time.monotonic() + self._stop_timeout
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)

    def _finish(self, run: TaskRun) -> None:
        assert run.process is not None
        code = run.process.returncode
        run.exit_code = 128 - code if code < 0 else code  # a signal death, as a container reports it
        run.ended_at = time.time()
        run.state = "STOPPED"
        if run.stop_code != "UserInitiated":
            self._stop_in_ecs(run, run.stopped_reason)
        run.stopped_at = time.time()
        log.info("task %s ended: exit %s, %s", run.arn, run.exit_code, run.stop_code)
        self._emit(run, "STOPPED")
        self._write_record(run)

    def _emit(self, run: TaskRun, last_status: str) -> None:
        event = task_state_change(
            run.task,
            last_status=last_status,
            version=RUNNING_VERSION if last_status == "RUNNING" else STOPPED_VERSION,
            container_name=self._container,
            created_at=run.created_at,
            started_at=run.started_at,
            stopped_at=run.stopped_at,
            stop_code=run.stop_code if last_status == "STOPPED" else None,
            stopped_reason=run.stopped_reason if last_status == "STOPPED" else None,
            exit_code=run.exit_code if last_status == "STOPPED" else None,
        )
        # EventBridge retries an asynchronous invocation that fails (twice, here quickly).
        for attempt in range(3):
            try:
                self._deliver(event)
                return
            except Exception:
                log.exception("task-events handler failed on %s (try %s)", run.arn, attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        self.undelivered_events += 1

    def _write_record(self, run: TaskRun) -> None:
        with self._lock, open(self._runs_log, "a") as out:
            out.write(json.dumps(run.record()) + "\n")


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment (an end at t closes before a start at t opens)."""
    points = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, step in points:
        current += step
        peak = max(peak, current)
    return peak


def runner_base_environment() -> dict[str, str]:
    """What a container starts with besides its task's variables: nothing of this process's
    settings leaks in (only PATH, locale, temp)."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME", "SYSTEMROOT")
    return {k: os.environ[k] for k in keep if k in os.environ}
