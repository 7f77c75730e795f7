"""Candles for one job: which files freqtrade needs, where they come from, and whether they
cover the requested range.

Layout (freqtrade's feather layout, relative to the exchange's data directory):
  spot      ETH_BTC-5m.feather
  futures   futures/XRP_USDT_USDT-1h-futures.feather, plus -1h-mark and -1h-funding_rate
            (freqtrade reads 1h mark and funding-rate candles; when missing it only warns).
Sources, first configured wins: DATA_DIR (that directory), DATA_BUCKET (objects under
``<EXCHANGE>/`` with the same layout; only this job's files are fetched), ALLOW_DOWNLOAD
(``freqtrade download-data`` from the exchange).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from backtest_runner.job import JobRequest

# freqtrade's mark_ohlcv_timeframe and funding_fee_timeframe for futures exchanges.
FUTURES_RATE_TIMEFRAME = "1h"


class NoCandles(Exception):
    """The job's pairs have no candles in the requested range; the message names them."""


@dataclass(frozen=True)
class CandleFile:
    pair: str
    timeframe: str
    path: str  # relative to the exchange's data directory
    required: bool


def candle_files(request: JobRequest) -> list[CandleFile]:
    files = []
    for pair in request.symbols:
        stem = pair.replace("/", "_").replace(":", "_")
        if request.trading_mode == "spot":
            files.append(CandleFile(pair, request.timeframe, f"{stem}-{request.timeframe}.feather", True))
            continue
        files.append(CandleFile(pair, request.timeframe, f"futures/{stem}-{request.timeframe}-futures.feather", True))
        for kind in ("mark", "funding_rate"):
            path = f"futures/{stem}-{FUTURES_RATE_TIMEFRAME}-{kind}.feather"
            files.append(CandleFile(pair, FUTURES_RATE_TIMEFRAME, path, False))
    return files


def describe_range(start: date | None, end: date | None) -> str:
    return f"{start.isoformat() if start else 'the first candle'}..{end.isoformat() if end else 'the last candle'}"


def fetch_from_bucket(s3: Any, bucket: str, exchange: str, request: JobRequest, target_dir: Path) -> None:
    """Copy this job's candle files from s3://bucket/<exchange>/ into ``target_dir``, skipping absent optional ones."""
    from botocore.exceptions import ClientError

    for candle_file in candle_files(request):
        destination = target_dir / candle_file.path
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, f"{exchange}/{candle_file.path}", str(destination))
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise
            destination.unlink(missing_ok=True)


def check_coverage(data_dir: Path, request: JobRequest) -> None:
    """Raise NoCandles naming every pair whose candles are missing or all outside the range."""
    import pyarrow.feather

    start = datetime.combine(request.start_date, time(), UTC) if request.start_date else None
    end = datetime.combine(request.end_date, time(), UTC) if request.end_date else None
    wanted = describe_range(request.start_date, request.end_date)
    problems = []
    for candle_file in candle_files(request):
        if not candle_file.required:
            continue
        path = data_dir / candle_file.path
        if not path.is_file():
            problems.append(f"no candles for {candle_file.pair} {candle_file.timeframe} in {wanted} (no {path.name})")
            continue
        dates = pyarrow.feather.read_table(path, columns=["date"]).column("date")
        if len(dates) == 0:
            problems.append(f"no candles for {candle_file.pair} {candle_file.timeframe} in {wanted} (empty file)")
            continue
        first, last = (_as_utc(dates[i].as_py()) for i in (0, len(dates) - 1))
        if (end is not None and first >= end) or (start is not None and last < start):
            problems.append(
                f"no candles for {candle_file.pair} {candle_file.timeframe} in {wanted} "
                f"(data covers {first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M})"
            )
    if problems:
        raise NoCandles("; ".join(problems))


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
