"""freqtrade as a child process: started early (prewarmed), fed its arguments once the job is ready,
its output passed through to ours, and stopped fast on SIGTERM."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import deque
from pathlib import Path
from types import TracebackType

log = logging.getLogger("backtest_runner")

# After SIGTERM, freqtrade gets this long to stop before it is killed (Spot gives two minutes in all).
STOP_GRACE_SECONDS = 5
ERROR_MARK = " - ERROR - "


class PrewarmedFreqtrade:
    """A freqtrade process that imports its modules while the runner prepares the job."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "backtest_runner.freqtrade_offline", "--prewarm"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # our SIGTERM handler decides how it stops, not the terminal's group
        )

    def run(self, markets_file: Path | None, arguments: list[str]) -> tuple[int, list[str]]:
        """Run freqtrade with ``arguments`` (markets_file None: the exchange's live markets).

        Returns freqtrade's exit code and its last ERROR lines.
        """
        log.info("running freqtrade %s", " ".join(arguments))
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"markets_file": str(markets_file or "-"), "arguments": arguments}) + "\n")
        self._process.stdin.close()
        return _pass_output_through(self._process)

    def __enter__(self) -> PrewarmedFreqtrade:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._process.poll() is None:
            stop(self._process)


def run_command(command: list[str]) -> tuple[int, list[str]]:
    """Run another freqtrade command (e.g. download-data) the same way."""
    log.info("running %s", " ".join(command))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True
    )
    try:
        return _pass_output_through(process)
    finally:
        if process.poll() is None:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after the grace period. freqtrade's backtest has no state worth saving."""
    if process.stdin and not process.stdin.closed:
        process.stdin.close()
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _pass_output_through(process: subprocess.Popen) -> tuple[int, list[str]]:
    errors: deque[str] = deque(maxlen=5)
    assert process.stdout is not None
    for line in process.stdout:
        sys.stderr.write(line)
        if ERROR_MARK in line:
            errors.append(line.split(ERROR_MARK, 1)[1].strip())
    return process.wait(), list(errors)
