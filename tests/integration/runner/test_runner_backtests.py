"""Real freqtrade backtests through the runner: spot from a data directory with the bundled market
list, futures from a data bucket with a saved market list in S3 that lacks the pair (so its
market entry is derived), logged to MLflow."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.integration.runner.runner_harness import (
    BINANCE_DATA,
    FUTURES_REQUEST,
    REPO_ROOT,
    SPOT_REQUEST,
    Aws,
    needs_runner_env,
    needs_testdata,
    run_runner,
)

pytestmark = [pytest.mark.slow, needs_runner_env, needs_testdata]


def archive_statistics(aws: Aws, result_uri: str) -> dict:
    bucket, _, key = result_uri.removeprefix("s3://").partition("/")
    data = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        return json.loads(bundle.read(Path(key).with_suffix(".json").name))


def test_spot_backtest_from_data_dir(aws: Aws, tmp_path: Path) -> None:
    job_id = aws.put_job(SPOT_REQUEST)

    finished = run_runner(aws.runner_env(job_id, tmp_path, DATA_DIR=str(BINANCE_DATA)))

    assert finished.returncode == 0, finished.stderr[-3000:]
    job = aws.job(job_id)
    assert job["status"] == "RUNNING"  # end states are the task-events Lambda's call
    assert job["started_at"]
    summary = job["summary"]
    assert summary["total_trades"] > 0
    assert summary["data_source"] == f"dir:{BINANCE_DATA}"
    assert summary["markets_source"] == "bundled:binance.json"
    assert summary["derived_market_pairs"] == []
    assert float(summary["starting_balance"]) == pytest.approx(0.1)  # one 0.05 stake per pair

    prefix = f"{job_id}/attempt-1/"
    archive_key = job["result_uri"].removeprefix(f"s3://{aws.results_bucket}/")
    assert aws.result_keys(job_id) == sorted([archive_key, prefix + "summary.json"])
    statistics = archive_statistics(aws, job["result_uri"])["strategy"]["TrendFollowingStrategy"]
    assert statistics["pairlist"] == ["ETH/BTC", "LTC/BTC"]
    assert summary["total_trades"] == statistics["total_trades"]
    assert float(summary["profit_total"]) == pytest.approx(statistics["profit_total"])
    uploaded = json.loads(aws.s3.get_object(Bucket=aws.results_bucket, Key=prefix + "summary.json")["Body"].read())
    assert uploaded["total_trades"] == statistics["total_trades"]


def test_futures_backtest_from_bucket_with_derived_market_and_mlflow(aws: Aws, tmp_path: Path) -> None:
    data_bucket = aws.results_bucket + "-data"
    aws.s3.create_bucket(Bucket=data_bucket)
    for candles in (BINANCE_DATA / "futures").glob("XRP_USDT_USDT-*.feather"):
        aws.s3.upload_file(str(candles), data_bucket, f"binance/futures/{candles.name}")
    # A saved list without XRP/USDT:USDT: the runner derives its entry and says so.
    bundled = json.loads((REPO_ROOT / "runner" / "markets" / "binance.json").read_text())
    saved = {**bundled, "markets": [m for m in bundled["markets"] if m["symbol"] == "ETH/BTC"]}
    aws.s3.put_object(Bucket=data_bucket, Key="markets/binance.json", Body=json.dumps(saved).encode())
    job_id = aws.put_job({**FUTURES_REQUEST, "experiment_name": "runner-test"}, status="RECEIVED")
    work_dir, mlruns = tmp_path / "work", tmp_path / "mlruns"

    finished = run_runner(
        aws.runner_env(
            job_id,
            work_dir,
            DATA_BUCKET=data_bucket,
            MARKETS_URI=f"s3://{data_bucket}/markets/binance.json",
            MLFLOW_TRACKING_URI=mlruns.as_uri(),
            # MLflow 3 keeps its file store in maintenance mode and asks for this opt-in.
            MLFLOW_ALLOW_FILE_STORE="true",
        )
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    job = aws.job(job_id)
    assert job["status"] == "RUNNING"
    summary = job["summary"]
    assert summary["total_trades"] > 0
    assert "mlflow_error" not in job, job["mlflow_error"]
    assert summary["trading_mode"] == "futures"
    assert summary["data_source"] == f"s3://{data_bucket}/binance/"
    assert summary["markets_source"] == f"s3://{data_bucket}/markets/binance.json"
    assert summary["derived_market_pairs"] == ["XRP/USDT:USDT"]
    assert archive_statistics(aws, job["result_uri"])["strategy"]["TrendFollowingStrategy"]["stoploss"] == -0.05

    # Only this job's files were fetched: the 1h candles and mark prices, not the 5m or 8h ones.
    fetched = sorted(p.name for p in (work_dir / job_id / "attempt-1" / "data" / "futures").iterdir())
    assert fetched == ["XRP_USDT_USDT-1h-futures.feather", "XRP_USDT_USDT-1h-mark.feather"]

    run_dirs = [p for p in mlruns.glob(f"*/{job['mlflow_run_id']}") if p.is_dir()]
    assert len(run_dirs) == 1, list(mlruns.rglob("*"))[:20]
    logged_trades = (run_dirs[0] / "metrics" / "total_trades").read_text().split()[1]
    assert float(logged_trades) == summary["total_trades"]
    assert (run_dirs[0] / "params" / "symbols").read_text() == "XRP/USDT:USDT"
    assert (run_dirs[0] / "artifacts" / "summary.json").is_file()
