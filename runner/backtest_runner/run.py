"""One job, start to end: request -> candles -> market list -> freqtrade -> results -> job table.

Every failure ends in one of the exit codes of exit_codes.py with a reason in the job table's
``runner_reason``; the task-events Lambda turns the exit code into the job's end state and
its ``status_reason`` (which the runner leaves alone, so a cancel's reason is not overwritten).
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest_runner import exit_codes
from backtest_runner.candles import NoCandles, check_coverage, fetch_from_bucket
from backtest_runner.freqtrade_config import UnsupportedRequest, backtest_arguments, build_config, timerange
from backtest_runner.freqtrade_process import PrewarmedFreqtrade, run_command
from backtest_runner.job import InvalidJob, JobRequest, JobTable
from backtest_runner.markets import (
    bundled_markets_path,
    derived_market,
    exchange_fees,
    market_list_document,
    parse_market_list,
)
from backtest_runner.results import extract_summary, new_result_archive, read_statistics
from backtest_runner.settings import Settings, SettingsError, load_settings
from backtest_runner.strategies import available_strategies

log = logging.getLogger("backtest_runner")

REASON_LIMIT = 1000


class BadRequest(Exception):
    """The job cannot succeed as asked; retrying cannot help."""


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, so no ``except Exception`` on the way swallows it."""


@dataclass
class Workspace:
    """The directories of one attempt, created empty (freqtrade needs them to exist)."""

    root: Path
    data: Path = field(init=False)
    user: Path = field(init=False)
    results: Path = field(init=False)

    def __post_init__(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.data, self.user, self.results = self.root / "data", self.root / "user_data", self.root / "results"
        for directory in (self.data, self.user, self.results):
            directory.mkdir(parents=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
    except SettingsError as error:
        log.error("invalid settings: %s", error)
        return exit_codes.CRASH
    signal.signal(signal.SIGTERM, _raise_terminated)
    table: JobTable | None = None
    try:
        with PrewarmedFreqtrade() as freqtrade:
            import boto3  # after the prewarm started: both load on their own core

            table = JobTable(boto3.client("dynamodb"), settings.WORKFLOW_STATE_TABLE)
            run_job(settings, table, boto3.client("s3"), freqtrade)
        return exit_codes.SUCCESS
    except Terminated:
        _record_failure(table, settings, f"stopped by SIGTERM during attempt {settings.ATTEMPT}")
        return exit_codes.TERMINATED
    except (BadRequest, InvalidJob, NoCandles, UnsupportedRequest) as error:
        _record_failure(table, settings, str(error))
        return exit_codes.BAD_REQUEST
    except Exception as error:
        log.exception("runner crashed")
        _record_failure(table, settings, f"runner crashed: {type(error).__name__}: {error}")
        return exit_codes.CRASH


def run_job(settings: Settings, table: JobTable, s3: Any, freqtrade: PrewarmedFreqtrade) -> None:
    request = JobRequest.from_item(table.load(settings.JOB_ID))
    strategies = available_strategies(settings.STRATEGY_DIR)
    if request.strategy not in strategies:
        raise BadRequest(f"unknown strategy {request.strategy} (available: {', '.join(strategies) or 'none'})")
    config = build_config(request, exchange=settings.EXCHANGE)
    table.mark_running(settings.JOB_ID)
    log.info("job %s attempt %d: %s on %s", request.job_id, settings.ATTEMPT, request.strategy, request.symbols)

    workspace = Workspace(settings.WORK_DIR / request.job_id / f"attempt-{settings.ATTEMPT}")
    data_dir, data_source = obtain_candles(settings, request, s3, workspace)
    check_coverage(data_dir, request)
    markets_file, markets_source, derived_pairs = prepare_markets(settings, request, s3, workspace)

    config_file = workspace.root / "config.json"
    config_file.write_text(json.dumps(config, indent=2))
    arguments = backtest_arguments(
        request,
        config_file=config_file,
        strategy_dir=settings.STRATEGY_DIR,
        data_dir=data_dir,
        user_dir=workspace.user,
        results_dir=workspace.results,
    )
    return_code, errors = freqtrade.run(markets_file, arguments)

    # freqtrade exits 0 after a configuration error: only a new result file means it ran.
    archive = new_result_archive(workspace.results)
    if archive is None:
        detail = errors[-1] if errors else "no error message"
        if return_code == 0:
            raise BadRequest(f"freqtrade rejected the backtest and wrote no result: {detail}")
        raise RuntimeError(f"freqtrade exited with {return_code} and wrote no result: {detail}")

    summary = extract_summary(read_statistics(archive), request.strategy)
    summary.update(data_source=data_source, markets_source=markets_source, derived_market_pairs=derived_pairs)
    summary_file = workspace.root / "summary.json"
    summary_file.write_text(json.dumps({"job_id": request.job_id, "attempt": settings.ATTEMPT, **summary}, indent=2))

    prefix = f"{request.job_id}/attempt-{settings.ATTEMPT}"
    s3.upload_file(str(archive), settings.RESULTS_BUCKET, f"{prefix}/{archive.name}")
    s3.upload_file(str(summary_file), settings.RESULTS_BUCKET, f"{prefix}/summary.json")
    fields: dict[str, Any] = {
        "summary": summary,
        "result_uri": f"s3://{settings.RESULTS_BUCKET}/{prefix}/{archive.name}",
    }

    if settings.MLFLOW_TRACKING_URI and request.experiment_name:
        try:
            fields["mlflow_run_id"] = log_to_mlflow(settings, request, summary, [archive, summary_file])
        except Exception as error:  # the results are safe in S3 already; an MLflow outage must not fail the job
            log.exception("MLflow logging failed")
            fields["mlflow_error"] = f"{type(error).__name__}: {error}"[:REASON_LIMIT]
    table.record(settings.JOB_ID, fields)
    log.info("job %s done: %s trades, profit %s", request.job_id, summary.get("total_trades"), summary["profit_total"])


def obtain_candles(settings: Settings, request: JobRequest, s3: Any, workspace: Workspace) -> tuple[Path, str]:
    """The freqtrade data directory holding this job's candles, and where they came from."""
    if settings.DATA_DIR is not None:
        return settings.DATA_DIR, f"dir:{settings.DATA_DIR}"
    if settings.DATA_BUCKET is not None:
        fetch_from_bucket(s3, settings.DATA_BUCKET, settings.EXCHANGE, request, workspace.data)
        return workspace.data, f"s3://{settings.DATA_BUCKET}/{settings.EXCHANGE}/"
    download = [
        sys.executable, "-m", "freqtrade", "download-data",
        "--exchange", settings.EXCHANGE,
        "--trading-mode", request.trading_mode,
        "--pairs", *request.symbols,
        "--timeframes", request.timeframe,
        "--datadir", str(workspace.data),
        "--userdir", str(workspace.user),
        "--data-format-ohlcv", "feather",
    ]  # fmt: skip
    if range_argument := timerange(request):
        download += ["--timerange", range_argument]
    return_code, errors = run_command(download)
    if return_code != 0:
        raise RuntimeError(f"candle download failed ({return_code}): {errors[-1] if errors else 'no error message'}")
    return workspace.data, f"download:{settings.EXCHANGE}"


def prepare_markets(
    settings: Settings, request: JobRequest, s3: Any, workspace: Workspace
) -> tuple[Path | None, str, list[str]]:
    """The market-list file freqtrade will be served (None: load live markets), its source, derived pairs."""
    if settings.MARKETS_URI:
        source = settings.MARKETS_URI
        text = _read_uri(s3, source)
    elif settings.ALLOW_DOWNLOAD:
        return None, f"exchange:{settings.EXCHANGE}", []
    elif bundled := bundled_markets_path(settings.EXCHANGE):
        source = f"bundled:{bundled.name}"
        text = bundled.read_text(encoding="utf-8")
    else:
        source, text = "derived", json.dumps({"exchange": settings.EXCHANGE, "markets": []})
    try:
        saved = parse_market_list(text, exchange=settings.EXCHANGE, source=source)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    derived_pairs = [pair for pair in request.symbols if pair not in saved]
    markets = list(saved.values())
    if derived_pairs:
        log.warning("no saved market entry for %s; using entries derived from the pairs", ", ".join(derived_pairs))
        fees = exchange_fees(settings.EXCHANGE)
        markets += [derived_market(pair, fees=fees) for pair in derived_pairs]
    markets_file = workspace.root / "markets.json"
    markets_file.write_text(json.dumps(market_list_document(settings.EXCHANGE, markets, how=source)))
    return markets_file, source, derived_pairs


def log_to_mlflow(settings: Settings, request: JobRequest, summary: dict[str, Any], artifacts: list[Path]) -> str:
    from backtest_runner.mlflow_log import log_run

    assert settings.MLFLOW_TRACKING_URI is not None
    attempt = settings.ATTEMPT
    return log_run(settings.MLFLOW_TRACKING_URI, request, attempt=attempt, summary=summary, artifacts=artifacts)


def _read_uri(s3: Any, uri: str) -> str:
    if uri.startswith("s3://"):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return Path(uri).read_text(encoding="utf-8")


def _record_failure(table: JobTable | None, settings: Settings, reason: str) -> None:
    log.error("job %s: %s", settings.JOB_ID, reason)
    if table is None:  # stopped before the table client existed
        return
    try:
        table.record(settings.JOB_ID, {"runner_reason": reason[:REASON_LIMIT], "failed_attempt": settings.ATTEMPT})
    except Exception:
        log.exception("could not record the failure reason in the job table")


def _raise_terminated(signum: int, frame: object) -> None:
    # Ignore a second SIGTERM while cleaning up; the first one already decided the outcome.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated
