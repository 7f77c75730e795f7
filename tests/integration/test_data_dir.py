"""``--data-dir``: the local stack runs on an existing freqtrade data directory, here the
shared real Binance candles (../shared/data/freqtrade-testdata), and ends with real summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline_harness import SHARED_TESTDATA, Pipeline, require_runner_venv, successful_runs

pytestmark = pytest.mark.slow

REQUESTS = [
    {
        "job_id": "real-futures-1h",
        "config": {
            "strategy": "TrendFollowingStrategy",
            "timeframe": "1h",
            "start_date": "2021-11-17",
            "end_date": "2021-11-21",
            "symbols": ["XRP/USDT:USDT"],
            "stoploss": -0.05,
        },
    },
    {
        "job_id": "real-spot-5m",
        "config": {
            "strategy": "MeanReversionStrategy",
            "timeframe": "5m",
            "start_date": "2018-01-11",
            "end_date": "2018-01-29",
            "symbols": ["ETH/BTC", "LTC/BTC"],
            "stake_amount": 0.05,
        },
    },
]


def test_existing_data_directory_gives_real_summaries(tmp_path: Path) -> None:
    if not (SHARED_TESTDATA / "binance").is_dir():
        pytest.skip(f"shared real candles not found at {SHARED_TESTDATA} (they are not part of the repository)")
    require_runner_venv()
    # the parent (a freqtrade datadir holding binance/) is accepted as well as binance/ itself
    with Pipeline(tmp_path / "stack", ["--cap", "2", "--data-dir", str(SHARED_TESTDATA)]) as pipeline:
        assert pipeline.state["data"]["kind"] == "directory"
        assert Path(pipeline.state["data"]["path"]).resolve() == (SHARED_TESTDATA / "binance").resolve()
        ids = [pipeline.send(request, check=True) for request in REQUESTS]
        jobs = pipeline.wait_until_settled(ids, timeout=300)
        runs = pipeline.runs_by_job()
        for job_id in ids:
            job = jobs[job_id]
            assert job is not None and job["status"] == "SUCCEEDED", (job_id, job)
            assert len(successful_runs(runs[job_id])) == 1
            summary = job["summary"]
            assert summary["data_source"] == f"dir:{SHARED_TESTDATA / 'binance'}"
            assert "SYNTHETIC" not in summary["data_source"]
            assert int(summary["total_trades"]) > 0, summary  # real candles, real trades
            for key in ("profit_total", "winrate", "max_drawdown", "backtest_start", "backtest_end"):
                assert key in summary, (key, summary)
        assert jobs["real-futures-1h"]["summary"]["trading_mode"] == "futures"
        assert jobs["real-spot-5m"]["summary"]["trading_mode"] == "spot"
        assert pipeline.dlq_depth() == 0
