"""The whole pipeline through the local stack with the real runner (freqtrade): the seed's
example plus 20 mixed requests (valid, invalid, duplicates) under a cap of 3.

Candles are the local stack's synthetic ones (no network in tests); date ranges are short
so the suite stays quick on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backtest_cli.examples import EXAMPLE
from tests.integration.pipeline_harness import Pipeline, error_fields, require_runner_venv, successful_runs

pytestmark = pytest.mark.slow

CAP = 3
SEED = {"job_id": "seed-example", "config": EXAMPLE["config"]}
VALID = [
    {
        "job_id": "v-btc-4h",
        "config": {
            "strategy": "TrendFollowingStrategy",
            "timeframe": "4h",
            "start_date": "2024-01-01",
            "end_date": "2024-04-01",
            "symbols": ["BTC/USDT:USDT"],
        },
    },
    {
        "job_id": "v-eth-1h",
        "config": {
            "strategy": "TrendFollowingStrategy",
            "timeframe": "1h",
            "start_date": "2024-02-01",
            "end_date": "2024-02-20",
            "symbols": ["ETH/USDT:USDT"],
            "stoploss": -0.1,
        },
    },
    {
        "job_id": "v-sol-upper-1H",
        "config": {
            "strategy": "TrendFollowingStrategy",
            "timeframe": "1H",
            "start_date": "2024-03-01",
            "end_date": "2024-04-01",
            "symbols": ["SOL/USDT:USDT"],
        },
        "priority": 5,
    },
    {
        "job_id": "v-spot",
        "config": {
            "strategy": "MeanReversionStrategy",
            "timeframe": "15m",
            "start_date": "2024-03-01",
            "end_date": "2024-03-08",
            "symbols": ["ETH/BTC"],
            "stake_amount": 0.05,
        },
    },
    {
        "job_id": "v-flat",
        "strategy_name": "MeanReversionStrategy",
        "timeframe": "15m",
        "start_date": "2024-02-01",
        "end_date": "2024-02-10",
        "symbols": ["XRP/USDT:USDT"],
    },
    {
        "job_id": "v-experiment",
        "config": {
            "strategy": "TrendFollowingStrategy",
            "start_date": "2024-05-01",
            "end_date": "2024-06-01",
            "symbols": ["BTC/USDT:USDT", "SOL/USDT:USDT"],
        },
        "experiment_name": "integration run",
        "submitted_at": "2024-06-02T10:00:00+02:00",
    },
]
WRAPPED = {
    "job_id": "v-wrapped",
    "config": {
        "strategy": "TrendFollowingStrategy",
        "start_date": "2024-04-01",
        "end_date": "2024-04-15",
        "symbols": ["ETH/USDT:USDT"],
    },
}
WITHOUT_ID = {
    "config": {
        "strategy": "TrendFollowingStrategy",
        "timeframe": "4h",
        "start_date": "2024-02-01",
        "end_date": "2024-05-01",
        "symbols": ["XRP/USDT:USDT"],
    }
}
INVALID = {
    "x-stop-loss": (
        {"job_id": "x-stop-loss", "config": {"strategy": "TrendFollowingStrategy", "stop_loss": -0.05}},
        "config.stop_loss",
    ),
    "x-dates": (
        {
            "job_id": "x-dates",
            "config": {"strategy": "TrendFollowingStrategy", "start_date": "2024-03-01", "end_date": "2024-01-01"},
        },
        "config.end_date",
    ),
    "x-timeframe": (
        {"job_id": "x-timeframe", "config": {"strategy": "TrendFollowingStrategy", "timeframe": "7m"}},
        "config.timeframe",
    ),
    "x-strategy": ({"job_id": "x-strategy", "config": {"strategy": "rm -rf /"}}, "config.strategy"),
    "x-mixed": (
        {
            "job_id": "x-mixed",
            "config": {"strategy": "TrendFollowingStrategy", "symbols": ["BTC/USDT", "ETH/USDT:USDT"]},
        },
        "config.symbols",
    ),
    "x-both-forms": (
        {
            "job_id": "x-both-forms",
            "config": {"strategy": "TrendFollowingStrategy"},
            "strategy_name": "TrendFollowingStrategy",
        },
        "body",
    ),
    "x-stake": (
        {"job_id": "x-stake", "config": {"strategy": "TrendFollowingStrategy", "stake_amount": True, "stoploss": 2}},
        "config.stake_amount",
    ),
}


def test_seed_and_mixed_requests_under_a_cap_of_three(tmp_path: Path) -> None:
    require_runner_venv()
    with Pipeline(tmp_path / "stack", ["--cap", str(CAP), "--candles", "synthetic"]) as pipeline:
        assert pipeline.state["data"]["kind"] == "synthetic"
        valid_ids = [pipeline.send(SEED, check=True)]
        valid_ids += [pipeline.send(document, check=True) for document in VALID]
        pipeline.send_raw(json.dumps(json.dumps(WRAPPED)))  # a JSON string holding the request
        valid_ids.append("v-wrapped")
        valid_ids.append(pipeline.send(WITHOUT_ID, check=True))  # id derived from the message id
        for document, _ in INVALID.values():
            pipeline.send(document, check=False)
        array_message = pipeline.send_raw("[1, 2, 3]")
        # duplicates while the originals are queued or running
        for document in (SEED, VALID[0], VALID[4]):
            pipeline.send(document)
        # 1 seed + 6 + wrapped + without-id = 9 valid, 7 + 1 invalid, 3 duplicates now, 2 later = 20 + seed
        from backtest_core.request import derived_job_id

        invalid_ids = [*INVALID, derived_job_id(array_message)]
        jobs = pipeline.wait_until_settled(valid_ids + invalid_ids, timeout=600)

        # duplicates after the originals ended: no new task, nothing moves backwards
        pipeline.send(VALID[1])
        pipeline.send_raw("\ufeff" + json.dumps(VALID[2]))  # with a byte-order mark
        pipeline.wait_until_settled(valid_ids, timeout=60)

        runs = pipeline.runs_by_job()
        stats = pipeline.stats()
        for job_id in valid_ids:
            job = jobs[job_id]
            assert job is not None and job["status"] == "SUCCEEDED", (job_id, job)
            assert len(runs.get(job_id, [])) == 1, f"{job_id} ran {len(runs.get(job_id, []))} times"
            assert len(successful_runs(runs[job_id])) == 1
            summary = job["summary"]
            assert int(summary["total_trades"]) >= 0 and "profit_total" in summary
            assert "SYNTHETIC" in summary["data_source"], summary["data_source"]
            assert job["result_uri"].startswith(f"s3://{pipeline.state['resources']['results_bucket']}/{job_id}/")
            assert pipeline.job(job_id)["status"] == "SUCCEEDED"  # still, after the late duplicates

        for job_id, (_, field) in INVALID.items():
            job = jobs[job_id]
            assert job is not None and job["status"] == "REJECTED", (job_id, job)
            assert field in error_fields(job), (job_id, job["errors"])
            assert all(error["rule"] for error in job["errors"])
            assert job_id not in runs
        array_job = jobs[derived_job_id(array_message)]
        assert array_job is not None and array_job["status"] == "REJECTED"
        assert "must be a JSON object" in array_job["errors"][0]["rule"]
        assert {"config.stake_amount", "config.stoploss"} <= error_fields(jobs["x-stake"])  # every error, not the first

        assert sum(len(r) for r in runs.values()) == len(valid_ids), "a task ran for something not a valid job"
        assert 1 <= stats["peak_concurrent_tasks"] <= CAP, stats
        assert stats["peak_live_tasks_sampled"] <= CAP, stats
        assert pipeline.dlq_depth() == 0
        assert stats["undelivered_task_events"] == 0
        assert stats["lambda"]["backtest-consumer-local"]["errors"] == 0
