"""How the runner fails: each case ends with its exit code and a reason in the job table, and
never with an end state (the task-events Lambda decides those from the exit code)."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.integration.runner.runner_harness import (
    BINANCE_DATA,
    REPO_ROOT,
    SPOT_REQUEST,
    Aws,
    needs_runner_env,
    needs_testdata,
    run_runner,
    start_runner,
)

pytestmark = [needs_runner_env, needs_testdata]

BAD_REQUEST, TERMINATED = 2, 143  # runner/backtest_runner/exit_codes.py; spelled out: the contract is the number


def test_unknown_strategy_is_a_bad_request_listing_the_available_ones(aws: Aws, tmp_path: Path) -> None:
    job_id = aws.put_job({**SPOT_REQUEST, "strategy": "NoSuchStrategy"})

    finished = run_runner(aws.runner_env(job_id, tmp_path, DATA_DIR=str(BINANCE_DATA)))

    assert finished.returncode == BAD_REQUEST, finished.stderr[-2000:]
    job = aws.job(job_id)
    assert job["status"] == "LAUNCHED"  # rejected before it started
    assert job["runner_reason"].startswith("unknown strategy NoSuchStrategy (available: ")
    assert "TrendFollowingStrategy" in job["runner_reason"]
    assert aws.result_keys(job_id) == []


def test_range_without_candles_names_pair_timeframe_and_range(aws: Aws, tmp_path: Path) -> None:
    request = {**SPOT_REQUEST, "start_date": "2020-03-01", "end_date": "2020-03-05"}
    job_id = aws.put_job(request)

    finished = run_runner(aws.runner_env(job_id, tmp_path, DATA_DIR=str(BINANCE_DATA)))

    assert finished.returncode == BAD_REQUEST, finished.stderr[-2000:]
    reason = aws.job(job_id)["runner_reason"]
    for pair in ("ETH/BTC", "LTC/BTC"):
        assert f"no candles for {pair} 5m in 2020-03-01..2020-03-05" in reason
    assert aws.result_keys(job_id) == []


@pytest.mark.slow
def test_freqtrade_configuration_error_exits_zero_but_the_runner_reports_it(aws: Aws, tmp_path: Path) -> None:
    # freqtrade accepts the strategy file, then rejects its order settings with a ConfigurationError
    # and exits 0 without a result: the runner must notice the missing result file.
    strategy_dir = tmp_path / "strategies"
    shutil.copytree(REPO_ROOT / "runner" / "strategies", strategy_dir)
    bundled = (strategy_dir / "TrendFollowingStrategy.py").read_text()
    misconfigured = bundled.replace("class TrendFollowingStrategy(", "class BadTimeInForceStrategy(").replace(
        '    timeframe = "1h"\n', '    timeframe = "1h"\n    order_time_in_force = {"entry": "GTC", "exit": "NEVER"}\n'
    )
    (strategy_dir / "BadTimeInForceStrategy.py").write_text(misconfigured)
    job_id = aws.put_job({**SPOT_REQUEST, "strategy": "BadTimeInForceStrategy"})

    finished = run_runner(
        aws.runner_env(job_id, tmp_path / "work", DATA_DIR=str(BINANCE_DATA), STRATEGY_DIR=str(strategy_dir))
    )

    assert finished.returncode == BAD_REQUEST, finished.stderr[-2000:]
    job = aws.job(job_id)
    assert job["status"] == "RUNNING"
    assert job["runner_reason"].startswith("freqtrade rejected the backtest and wrote no result: ")
    assert "NEVER" in job["runner_reason"] or "time in force" in job["runner_reason"].lower()
    assert "summary" not in job and aws.result_keys(job_id) == []


@pytest.mark.slow
def test_sigterm_mid_run_stops_freqtrade_fast_and_exits_143(aws: Aws, tmp_path: Path) -> None:
    job_id = aws.put_job(SPOT_REQUEST)
    runner = start_runner(aws.runner_env(job_id, tmp_path, DATA_DIR=str(BINANCE_DATA)))
    assert runner.stderr is not None
    for line in runner.stderr:  # wait until freqtrade itself is loading candles
        if "Loading data from" in line or "Backtesting with data" in line:
            break
    else:
        pytest.fail(f"runner ended before freqtrade ran (exit {runner.wait()})")

    runner.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    runner.stderr.read()
    exit_code = runner.wait(timeout=30)

    assert exit_code == TERMINATED
    assert time.monotonic() - sent < 10
    job = aws.job(job_id)
    assert job["status"] == "RUNNING"
    assert job["runner_reason"] == "stopped by SIGTERM during attempt 1"
    assert aws.result_keys(job_id) == []
