"""Start the local stack as a child process and wait until it is ready (demo, tests, bench)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local_stack.lambdas import REPO

STATE_FILE = "state.json"


class StackProcess:
    def __init__(self, state_dir: Path, args: list[str] | None = None, *, python: str = sys.executable) -> None:
        self.state_dir = state_dir.resolve()
        self.args = args or []
        self.python = python
        self.process: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {}

    @property
    def output_path(self) -> Path:
        return self.state_dir / "up.out"

    def start(self, timeout: float = 180.0) -> StackProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state_file = self.state_dir / STATE_FILE
        state_file.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "lambda_src")])}
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                [self.python, "-m", "local_stack", "up", "--state-dir", str(self.state_dir), *self.args],
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}:\n{self.output()}")
            if state_file.is_file():
                state = json.loads(state_file.read_text())
                if state.get("pid") == self.process.pid:
                    self.state = state
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the local stack did not come up in {timeout:.0f} s:\n{self.output()}")

    def output(self, tail: int = 4000) -> str:
        try:
            return self.output_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stats(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.state_dir / "stats.json").read_text()))
        except (OSError, ValueError):
            return {}

    def runs(self) -> list[dict[str, Any]]:
        path = self.state_dir / "runs.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
