"""Drills: the local stack with faults switched on, and cancelling through the CLI.

These use the stand-in runner (it sleeps, exits 0, and stops on SIGTERM with 143): what is
drilled is the pipeline's bookkeeping (claims, slots, retries, events), not freqtrade.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_stack.lambdas import REPO
from tests.integration.pipeline_harness import Pipeline, overlapping, successful_runs

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 3


def request(job_id: str, *, minimal: bool = False) -> dict[str, object]:
    if minimal:  # only what is required: a re-queue has to rebuild the rest from defaults
        return {"job_id": job_id, "config": {"strategy": "TrendFollowingStrategy"}}
    return {
        "job_id": job_id,
        "config": {
            "strategy": "TrendFollowingStrategy",
            "symbols": ["BTC/USDT:USDT"],
            "start_date": "2024-01-01",
            "end_date": "2024-02-01",
            "stoploss": -0.05,
        },
        "experiment_name": "drill",
        "submitted_at": "2024-02-01T00:00:00Z",
    }


def assert_settled_honestly(job_id: str, job: dict[str, Any] | None, job_runs: list[dict[str, Any]]) -> None:
    """SUCCEEDED after one complete run, or FAILED because Spot took every allowed attempt."""
    assert job is not None, f"{job_id} was lost"
    assert job_runs, f"{job_id} never ran"
    # each attempt ran once, in order, never two at a time
    assert [r["attempt"] for r in job_runs] == list(range(1, len(job_runs) + 1)), job_runs
    assert not overlapping(job_runs), job_runs
    assert len(successful_runs(job_runs)) <= 1, f"{job_id} ran to completion twice"
    assert int(job["attempts"]) == len(job_runs)
    for run in job_runs:
        if run["interrupted"]:
            assert run["stop_code"] == "SpotInterruption" and run["exit_code"] == 143, run
    if job["status"] == "SUCCEEDED":
        assert successful_runs(job_runs) == [job_runs[-1]]
        assert all(r["interrupted"] for r in job_runs[:-1])
    else:
        assert job["status"] == "FAILED", job
        assert len(job_runs) == MAX_ATTEMPTS and all(r["interrupted"] for r in job_runs), job_runs
        assert "Spot interruption" in job["status_reason"], job["status_reason"]
        assert "attempt limit" in job["status_reason"], job["status_reason"]


def test_interrupted_job_with_a_minimal_request_is_requeued(tmp_path: Path) -> None:
    """Guards a bug the drill found: a re-queue rebuilt the request from the stored record and
    failed when optional fields were absent, leaving the job INTERRUPTED for good."""
    args = ["--cap", "2", "--workers", "2", "--candles", "synthetic", "--standin-runner", "1.5",
            "--interrupt-after", "0.5", "--interrupt-share", "0.8", "--seed", "3",
            "--max-attempts", str(MAX_ATTEMPTS)]  # fmt: skip
    with Pipeline(tmp_path / "stack", args) as pipeline:
        # Interruptions are drawn per task ARN (random): 6 jobs at 0.8 leave none with ~1e-4 odds.
        ids = [f"minimal-{n}" for n in range(6)]
        for job_id in ids:
            pipeline.send(request(job_id, minimal=True), check=True)
        jobs = pipeline.wait_until_settled(ids, timeout=120)
        runs = pipeline.runs_by_job()
        assert any(r["interrupted"] for job_runs in runs.values() for r in job_runs), "nothing was interrupted"
        assert any(len(job_runs) > 1 for job_runs in runs.values()), "no job was re-queued"
        for job_id in ids:
            assert_settled_honestly(job_id, jobs[job_id], sorted(runs.get(job_id, []), key=lambda r: r["attempt"]))
        assert pipeline.dlq_depth() == 0


@dataclass
class DrillOutcome:
    ids: list[str]
    jobs: dict[str, Any]
    runs: dict[str, list[dict[str, Any]]]
    stats: dict[str, Any]
    dlq_depth: int


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> DrillOutcome:
    """One drill run, read by the tests below: 16 jobs, cap 3, Spot interruptions, refused
    launches and twin deliveries all switched on."""
    args = [
        "--cap", "3", "--workers", "3", "--candles", "synthetic",
        "--standin-runner", "2.5", "--interrupt-after", "0.8",
        "--interrupt-share", "0.4", "--fail-launch-share", "0.4", "--duplicate-share", "0.3",
        "--max-attempts", str(MAX_ATTEMPTS), "--seed", "11",
    ]  # fmt: skip
    with Pipeline(tmp_path_factory.mktemp("drill") / "stack", args) as pipeline:
        ids = [f"drill-{n:02d}" for n in range(16)]
        for number, job_id in enumerate(ids):
            pipeline.send(request(job_id, minimal=number % 2 == 0), check=True)
        jobs = pipeline.wait_until_settled(ids, timeout=420)
        return DrillOutcome(ids, jobs, pipeline.runs_by_job(), pipeline.stats(), pipeline.dlq_depth())


def test_drill_loses_nothing_and_runs_nothing_twice(drill: DrillOutcome) -> None:
    for job_id in drill.ids:
        job_runs = sorted(drill.runs.get(job_id, []), key=lambda r: r["attempt"])
        assert_settled_honestly(job_id, drill.jobs[job_id], job_runs)
    interrupted_runs = sum(1 for job_runs in drill.runs.values() for r in job_runs if r["interrupted"])

    # the faults really happened
    assert interrupted_runs > 0, drill.stats
    assert drill.stats["ecs"]["refused_launches"] > 0, drill.stats
    assert drill.stats["poller"]["twin_deliveries"] > 0, drill.stats
    assert drill.dlq_depth == 0
    assert drill.stats["undelivered_task_events"] == 0


def test_drill_keeps_the_cap(drill: DrillOutcome) -> None:
    assert drill.stats["peak_concurrent_tasks"] <= 3, drill.stats


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backtest_cli", "--state-dir", str(state_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_cli_submit_cancel_and_follow(tmp_path: Path) -> None:
    state = tmp_path / "stack"
    args = ["--cap", "2", "--workers", "2", "--candles", "synthetic", "--standin-runner", "6", "--defer-delay", "2"]
    with Pipeline(state, args) as pipeline:
        submitted = cli(
            state,
            "submit",
            "--strategy",
            "TrendFollowingStrategy",
            "-s",
            "BTC/USDT:USDT",
            "--start",
            "2024-01-01",
            "--end",
            "2024-02-01",
            "--job-id",
            "cli-runs",
        )
        assert submitted.returncode == 0 and submitted.stdout.strip() == "cli-runs", submitted
        for job_id in ("cli-cancel-running", "cli-cancel-waiting"):
            assert cli(state, "submit", "--strategy", "TrendFollowingStrategy", "--job-id", job_id).returncode == 0

        refused = cli(state, "submit", "--strategy", "TrendFollowingStrategy", "--stoploss", "5", "--timeframe", "7m")
        assert refused.returncode == 2
        assert "config.stoploss" in refused.stderr and "config.timeframe" in refused.stderr

        deadline = time.monotonic() + 60
        while (pipeline.job("cli-cancel-running") or {}).get("status") != "RUNNING":
            assert time.monotonic() < deadline, pipeline.job("cli-cancel-running")
            time.sleep(0.3)
        waiting = pipeline.job("cli-cancel-waiting") or {}
        assert waiting.get("status") == "DEFERRED", waiting  # the cap of 2 holds it back

        # the waiting one first: cancelling the running one frees a slot the waiting one would take
        for job_id in ("cli-cancel-waiting", "cli-cancel-running"):
            cancelled = cli(state, "cancel", job_id)
            assert cancelled.returncode == 0 and "CANCELLED" in cancelled.stdout, cancelled
        again = cli(state, "cancel", "cli-cancel-running")
        assert again.returncode == 1 and "already CANCELLED" in again.stdout

        watched = cli(state, "watch", "cli-runs", "cli-cancel-running", "cli-cancel-waiting", "--interval", "0.5")
        assert watched.returncode == 0, watched
        jobs = pipeline.wait_until_settled(["cli-runs", "cli-cancel-running", "cli-cancel-waiting"], timeout=60)
        time.sleep(3)  # let the deferred message of the cancelled job come back and be refused
        assert jobs["cli-runs"]["status"] == "SUCCEEDED"
        runs = pipeline.runs_by_job()
        stopped = runs["cli-cancel-running"]
        assert len(stopped) == 1 and stopped[0]["stop_code"] == "UserInitiated" and stopped[0]["exit_code"] == 143
        assert "cli-cancel-waiting" not in runs, "a cancelled job was launched"
        assert (pipeline.job("cli-cancel-waiting") or {})["status"] == "CANCELLED"

        status = cli(state, "status", "cli-runs")
        assert status.returncode == 0 and "SUCCEEDED" in status.stdout and "backtest finished" in status.stdout
        listed = cli(state, "list", "--status", "CANCELLED", "--json")
        assert listed.returncode == 0
        assert {job["job_id"] for job in __import__("json").loads(listed.stdout)} == {
            "cli-cancel-running",
            "cli-cancel-waiting",
        }
        missing = cli(state, "status", "no-such-job")
        assert missing.returncode == 1
        assert pipeline.dlq_depth() == 0
