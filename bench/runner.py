"""Runner overhead: the runner on one backtest against the bare freqtrade command on the same backtest.

    .venv/bin/python bench/runner.py [--rounds 5]

Both sides run the same freqtrade backtest (same candles, same config file, same market list):
  bare    .venv-runner/bin/python -m backtest_runner.freqtrade_offline MARKETS backtesting ARGS
          (the plain ``freqtrade`` command plus the saved market list, which is the least that
          runs offline)
  runner  .venv-runner/bin/python -m backtest_runner, i.e. the whole task: settings, job table
          reads and writes, candle check, freqtrade, result and summary upload (to a local moto
          server, started here).
Rounds alternate the two; the figure is the ratio of median wall times (target <= 1.10).
The results land in the "Runner" section of BENCHMARKS.md; other sections are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from bench.report import write_section  # noqa: E402

RUNNER_PYTHON = REPO_ROOT / ".venv-runner" / "bin" / "python"
BINANCE_DATA = REPO_ROOT.parent / "shared" / "data" / "freqtrade-testdata" / "binance"
TARGET_RATIO = 1.10

REQUEST = {
    "strategy": "TrendFollowingStrategy",
    "timeframe": "5m",
    "start_date": "2018-01-11",
    "end_date": "2018-01-29",
    "symbols": ["ETH/BTC", "LTC/BTC"],
    "trading_mode": "spot",
    "stake_amount": Decimal("0.05"),
    "priority": 0,
}


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"{command[:4]} failed with {finished.returncode}:\n{finished.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    if not RUNNER_PYTHON.exists() or not BINANCE_DATA.is_dir():
        sys.exit(f"needs {RUNNER_PYTHON} (make venv) and {BINANCE_DATA}")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws_env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(aws_env)
    table = boto3.resource("dynamodb").create_table(
        TableName="bench-jobs",
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3").create_bucket(Bucket="bench-results")

    with tempfile.TemporaryDirectory() as scratch:
        work_dir = Path(scratch)
        base_env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT / "runner"), **aws_env}
        runner_env = {
            **base_env,
            "WORKFLOW_STATE_TABLE": "bench-jobs",
            "RESULTS_BUCKET": "bench-results",
            "DATA_DIR": str(BINANCE_DATA),
            "WORK_DIR": str(work_dir / "runner"),
        }

        def run_runner(job_id: str) -> float:
            table.put_item(Item={"job_id": job_id, "status": "LAUNCHED", "request": {"job_id": job_id, **REQUEST}})
            return timed([str(RUNNER_PYTHON), "-m", "backtest_runner"], {**runner_env, "JOB_ID": job_id})

        # A first runner run writes the config and market list the bare command reuses (and warms caches).
        run_runner("warmup")
        attempt_dir = work_dir / "runner" / "warmup" / "attempt-1"
        bare_results = work_dir / "bare-results"
        arguments = [
            "backtesting",
            "--config", str(attempt_dir / "config.json"),
            "--strategy", REQUEST["strategy"],
            "--strategy-path", str(REPO_ROOT / "runner" / "strategies"),
            "--datadir", str(BINANCE_DATA),
            "--userdir", str(attempt_dir / "user_data"),
            "--backtest-directory", str(bare_results),
            "--export", "trades",
            "--cache", "none",
            "--dry-run-wallet", repr(json.loads((attempt_dir / "config.json").read_text())["dry_run_wallet"]),
            "--timerange", "20180111-20180129",
        ]  # fmt: skip
        bare_command = [
            str(RUNNER_PYTHON),
            "-m",
            "backtest_runner.freqtrade_offline",
            str(attempt_dir / "markets.json"),
        ]
        bare_command += arguments

        bare_times, runner_times = [], []
        for round_number in range(rounds):
            bare_results.mkdir(exist_ok=True)
            bare_times.append(timed(bare_command, base_env))
            runner_times.append(run_runner(f"bench-{round_number}"))
    server.stop()

    bare, runner = statistics.median(bare_times), statistics.median(runner_times)
    ratio = runner / bare
    verdict = "met" if ratio <= TARGET_RATIO else "missed"
    lines = [
        "## Runner",
        "",
        "`bench/runner.py`: the runner (`python -m backtest_runner`, whole task against a local moto server)",
        "against the bare freqtrade command with the same saved market list, on the same backtest:",
        f"{REQUEST['strategy']}, {' + '.join(REQUEST['symbols'])} {REQUEST['timeframe']}, 20180111-20180129 (spot).",
        f"Median of {rounds} alternating rounds, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| | median wall time (s) | all rounds (s) |",
        "|---|---|---|",
        f"| bare freqtrade | {bare:.2f} | {', '.join(f'{t:.2f}' for t in bare_times)} |",
        f"| runner | {runner:.2f} | {', '.join(f'{t:.2f}' for t in runner_times)} |",
        "",
        f"Ratio runner / bare: **{ratio:.3f}** (target <= {TARGET_RATIO:.2f}: {verdict}).",
        "The runner starts freqtrade at once and lets it import its modules while it reads the job and checks",
        "the candles on the other core; that hides most of its own work. Wall times on a shared machine are",
        f"noisy (load average {os.getloadavg()[0]:.1f} at the end of this run): rerun it on a quiet one.",
    ]
    print("\n".join(lines))
    write_section("runner", "\n".join(lines))


if __name__ == "__main__":
    main()
