"""What the runner tests share: a moto server, a job table and buckets in it, and a way to start
the runner the way Fargate (or the local stack's executor) does: a subprocess with JOB_ID and
the task definition's environment, in the runner's own virtual environment."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

REPO_ROOT = Path(__file__).resolve().parents[3]
RUNNER_PYTHON = REPO_ROOT / ".venv-runner" / "bin" / "python"
# CI clones the repository beside a copy of shared/; the data is never copied into the repository.
TESTDATA = REPO_ROOT.parent / "shared" / "data" / "freqtrade-testdata"
BINANCE_DATA = TESTDATA / "binance"

needs_runner_env = pytest.mark.skipif(
    not RUNNER_PYTHON.exists(), reason=f"{RUNNER_PYTHON} missing: run `make venv` to build the runner environment"
)
needs_testdata = pytest.mark.skipif(
    not BINANCE_DATA.is_dir(), reason=f"candle data {BINANCE_DATA} absent (clone the repository beside shared/)"
)

SPOT_REQUEST = {
    "strategy": "TrendFollowingStrategy",
    "timeframe": "5m",
    "start_date": "2018-01-11",
    "end_date": "2018-01-29",
    "symbols": ["ETH/BTC", "LTC/BTC"],
    "trading_mode": "spot",
    "stake_amount": Decimal("0.05"),
    "priority": 0,
}
FUTURES_REQUEST = {
    "strategy": "TrendFollowingStrategy",
    "timeframe": "1h",
    "start_date": "2021-11-17",
    "end_date": "2021-11-21",
    "symbols": ["XRP/USDT:USDT"],
    "trading_mode": "futures",
    "stoploss": Decimal("-0.05"),
    "stake_amount": Decimal("100"),
    "priority": 0,
}

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


@dataclass
class Aws:
    """Clients on the moto server and the environment that points a subprocess at it."""

    env: dict[str, str]
    dynamodb: Any
    s3: Any
    table: str
    results_bucket: str

    def put_job(self, request: dict[str, Any], *, status: str = "LAUNCHED") -> str:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        item = {"job_id": job_id, "status": status, "request": {"job_id": job_id, **request}}
        self.dynamodb.put_item(TableName=self.table, Item={key: _serialize(value) for key, value in item.items()})
        return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        item = self.dynamodb.get_item(TableName=self.table, Key={"job_id": {"S": job_id}})["Item"]
        return {key: _deserialize(value) for key, value in item.items()}

    def result_keys(self, job_id: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.results_bucket, Prefix=f"{job_id}/")
        return sorted(entry["Key"] for entry in listing.get("Contents", []))

    def runner_env(self, job_id: str, work_dir: Path, **settings: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **self.env,
            "PYTHONPATH": str(REPO_ROOT / "runner"),
            "JOB_ID": job_id,
            "ATTEMPT": "1",
            "WORKFLOW_STATE_TABLE": self.table,
            "RESULTS_BUCKET": self.results_bucket,
            "WORK_DIR": str(work_dir),
            "ENVIRONMENT": "test",
            **settings,
        }


def run_runner(env: dict[str, str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUNNER_PYTHON), "-m", "backtest_runner"], env=env, capture_output=True, text=True, timeout=timeout
    )


def start_runner(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(RUNNER_PYTHON), "-m", "backtest_runner"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
