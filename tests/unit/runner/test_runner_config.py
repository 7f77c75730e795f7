"""The runner's pure parts, without freqtrade: settings, freqtrade config and arguments, summary
extraction, derived market entries, strategy discovery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from backtest_runner.candles import candle_files
from backtest_runner.freqtrade_config import (
    UnsupportedRequest,
    backtest_arguments,
    build_config,
    stake_currency,
    timerange,
)
from backtest_runner.job import InvalidJob, JobRequest, to_dynamo_value
from backtest_runner.markets import derived_market
from backtest_runner.results import extract_summary
from backtest_runner.settings import SettingsError, load_settings
from backtest_runner.strategies import available_strategies

REPO_ROOT = Path(__file__).resolve().parents[3]


def request(**changes) -> JobRequest:
    fields = {
        "job_id": "job-1",
        "strategy": "TrendFollowingStrategy",
        "timeframe": "1h",
        "start_date": date(2021, 11, 17),
        "end_date": date(2021, 11, 21),
        "symbols": ("XRP/USDT:USDT",),
        "trading_mode": "futures",
        "stake_amount": 100.0,
    }
    return JobRequest(**{**fields, **changes})


def test_settings_name_the_missing_and_invalid_variables(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"JOB_ID": "bad id!", "RESULTS_BUCKET": "r", "DATA_DIR": str(tmp_path), "ATTEMPT": "0"})
    message = str(caught.value)
    assert "JOB_ID:" in message and "WORKFLOW_STATE_TABLE: is required" in message and "ATTEMPT:" in message


def test_settings_need_a_candle_source() -> None:
    with pytest.raises(SettingsError, match="DATA_DIR or DATA_BUCKET, or ALLOW_DOWNLOAD=true"):
        load_settings({"JOB_ID": "j", "WORKFLOW_STATE_TABLE": "t", "RESULTS_BUCKET": "r"})


def test_settings_defaults(tmp_path: Path) -> None:
    settings = load_settings({"JOB_ID": "j", "WORKFLOW_STATE_TABLE": "t", "RESULTS_BUCKET": "r", "DATA_BUCKET": "d"})
    assert (settings.ATTEMPT, settings.EXCHANGE, settings.ALLOW_DOWNLOAD) == (1, "binance", False)


def test_futures_config_uses_settle_currency_stoploss_and_one_stake_per_pair() -> None:
    job = request(symbols=("XRP/USDT:USDT", "BTC/USDT:USDT"), stoploss=-0.07)
    config = build_config(job, exchange="binance")
    assert config["stake_currency"] == "USDT"
    assert config["trading_mode"] == "futures" and config["margin_mode"] == "isolated"
    assert config["stoploss"] == -0.07
    assert config["dry_run_wallet"] == 200.0 and config["max_open_trades"] == 2


def test_spot_config_leaves_stoploss_to_the_strategy() -> None:
    config = build_config(request(symbols=("ETH/BTC",), trading_mode="spot"), exchange="binance")
    assert "stoploss" not in config and "margin_mode" not in config and config["stake_currency"] == "BTC"


def test_mixed_stake_currencies_are_refused() -> None:
    with pytest.raises(UnsupportedRequest, match="BTC, ETH"):
        stake_currency(request(symbols=("ETH/BTC", "XRP/ETH"), trading_mode="spot"))


def test_timerange_has_open_sides() -> None:
    assert timerange(request()) == "20211117-20211121"
    assert timerange(request(end_date=None)) == "20211117-"
    assert timerange(request(start_date=None, end_date=None)) is None


def test_backtest_arguments_handle_freqtrade_pitfalls(tmp_path: Path) -> None:
    arguments = backtest_arguments(
        request(), config_file=tmp_path / "c.json", strategy_dir=tmp_path, data_dir=tmp_path,
        user_dir=tmp_path, results_dir=tmp_path / "results",
    )  # fmt: skip
    assert arguments[0] == "backtesting"
    assert arguments[arguments.index("--cache") + 1] == "none"
    assert arguments[arguments.index("--dry-run-wallet") + 1] == "100.0"
    assert arguments[arguments.index("--backtest-directory") + 1] == str(tmp_path / "results")
    assert arguments[-2:] == ["--timerange", "20211117-20211121"]


def test_futures_candle_files_include_optional_mark_and_funding() -> None:
    files = {(f.path, f.required) for f in candle_files(request())}
    assert files == {
        ("futures/XRP_USDT_USDT-1h-futures.feather", True),
        ("futures/XRP_USDT_USDT-1h-mark.feather", False),
        ("futures/XRP_USDT_USDT-1h-funding_rate.feather", False),
    }


def test_invalid_request_item_names_the_field() -> None:
    with pytest.raises(InvalidJob, match="stake_amount"):
        JobRequest.from_item({"job_id": "j", "request": {"job_id": "j", "strategy": "S", "timeframe": "1h",
                                                         "symbols": ["A/B"], "trading_mode": "spot",
                                                         "stake_amount": -1}})  # fmt: skip


def test_summary_takes_the_strategy_figures_under_pipeline_names() -> None:
    statistics = {"strategy": {"S": {"profit_total": 0.1, "total_trades": 7, "max_relative_drawdown": 0.2, "x": 1}}}
    assert extract_summary(statistics, "S") == {"profit_total": 0.1, "total_trades": 7, "max_drawdown": 0.2}
    with pytest.raises(ValueError, match="strategy T"):
        extract_summary(statistics, "T")


def test_dynamo_values_are_decimals_and_drop_non_finite_numbers() -> None:
    converted = to_dynamo_value({"sharpe": float("nan"), "profit": 0.1, "trades": 3, "pairs": ["A/B"]})
    assert converted == {"profit": Decimal("0.1"), "trades": Decimal(3), "pairs": ["A/B"]}


def test_derived_market_for_a_linear_perpetual() -> None:
    fees = {"trading": {"taker": 0.001, "maker": 0.001}, "linear": {"trading": {"taker": 0.0005, "maker": 0.0002}}}
    market = derived_market("XRP/USDT:USDT", fees=fees)
    assert (market["id"], market["type"], market["settle"], market["linear"]) == ("XRPUSDT", "swap", "USDT", True)
    assert (market["taker"], market["maker"], market["contractSize"]) == (0.0005, 0.0002, 1.0)
    assert derived_market("ETH/BTC", fees=fees)["spot"] is True


def test_bundled_strategies_are_found_and_a_dropped_file_adds_one(tmp_path: Path) -> None:
    bundled = available_strategies(REPO_ROOT / "runner" / "strategies")
    assert {"TrendFollowingStrategy", "MeanReversionStrategy"} <= set(bundled)
    (tmp_path / "Mine.py").write_text(
        "from freqtrade.strategy import IStrategy\n"
        "class Base(IStrategy): pass\nclass Mine(Base): pass\nclass Helper: pass\n"
    )
    assert available_strategies(tmp_path) == ["Base", "Mine"]
