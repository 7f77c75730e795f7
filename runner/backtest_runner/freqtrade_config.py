"""The freqtrade configuration and command line for one job (pure: no freqtrade import).

freqtrade pitfalls handled here (DESIGN section 6): ``--cache none`` (an identical run would
otherwise reuse an earlier result and write nothing), ``--dry-run-wallet`` large enough for every
stake (the default wallet only allows 990 of a 1000 stake), and the stoploss through the config
file (there is no flag for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtest_runner.job import JobRequest


class UnsupportedRequest(Exception):
    """The request is valid in general but cannot become one freqtrade backtest."""


def stake_currency(request: JobRequest) -> str:
    """The currency stakes are paid in: the settle currency of futures, the quote currency of spot."""
    currencies = {symbol.split(":")[1] if ":" in symbol else symbol.split("/")[1] for symbol in request.symbols}
    if len(currencies) != 1:
        raise UnsupportedRequest(
            f"symbols must share one stake currency (quote or settle), got {', '.join(sorted(currencies))}"
        )
    return currencies.pop()


def timerange(request: JobRequest) -> str | None:
    """freqtrade's ``--timerange`` (YYYYMMDD-YYYYMMDD, either side open); None for all candles."""
    if request.start_date is None and request.end_date is None:
        return None
    start = request.start_date.strftime("%Y%m%d") if request.start_date else ""
    end = request.end_date.strftime("%Y%m%d") if request.end_date else ""
    return f"{start}-{end}"


def wallet_size(request: JobRequest) -> float:
    """One stake per symbol, so every pair can hold a trade at once."""
    return request.stake_amount * len(request.symbols)


def build_config(request: JobRequest, *, exchange: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "exchange": {"name": exchange, "pair_whitelist": list(request.symbols), "pair_blacklist": []},
        "trading_mode": request.trading_mode,
        "stake_currency": stake_currency(request),
        "stake_amount": request.stake_amount,
        "dry_run": True,
        "dry_run_wallet": wallet_size(request),
        # The whole wallet is tradable: wallet_size already holds exactly the stakes.
        "tradable_balance_ratio": 1.0,
        "max_open_trades": len(request.symbols),
        "timeframe": request.timeframe,
        "pairlists": [{"method": "StaticPairList"}],
        "dataformat_ohlcv": "feather",
        "dataformat_trades": "feather",
        # Backtests price from candles; this only has to pass freqtrade's check, which for
        # futures rejects ticker pricing on exchanges whose tickers lack prices (e.g. Binance).
        "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
    }
    if request.trading_mode == "futures":
        config["margin_mode"] = "isolated"
    if request.stoploss is not None:
        config["stoploss"] = request.stoploss
    return config


def backtest_arguments(
    request: JobRequest,
    *,
    config_file: Path,
    strategy_dir: Path,
    data_dir: Path,
    user_dir: Path,
    results_dir: Path,
) -> list[str]:
    """The arguments after ``freqtrade``; every directory must exist before freqtrade starts."""
    arguments = [
        "backtesting",
        "--config", str(config_file),
        "--strategy", request.strategy,
        "--strategy-path", str(strategy_dir),
        "--datadir", str(data_dir),
        "--userdir", str(user_dir),
        "--backtest-directory", str(results_dir),
        "--export", "trades",
        "--cache", "none",
        "--dry-run-wallet", repr(wallet_size(request)),
    ]  # fmt: skip
    range_argument = timerange(request)
    if range_argument:
        arguments += ["--timerange", range_argument]
    return arguments
