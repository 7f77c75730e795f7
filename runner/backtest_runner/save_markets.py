"""Save an exchange's market list for offline backtests (needs network access to the exchange).

    python -m backtest_runner.save_markets --exchange binance --output markets.json \\
        [--trading-mode spot|futures|all] [--pairs ETH/BTC XRP/USDT:USDT ...] [--keep-info]
    python -m backtest_runner.save_markets --exchange binance --output markets.json \
        --derive ETH/BTC XRP/USDT:USDT ...

The file is what MARKETS_URI points at (a path, or upload it to S3). ``--pairs`` keeps only
those markets; ccxt's raw exchange payload (``info``) is dropped unless ``--keep-info``: it is
most of the size and freqtrade's backtests do not read it. ``--derive`` needs no network: it
builds entries from the pairs alone (ccxt's fee table, permissive precision and limits); the
list shipped in runner/markets/ was made that way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backtest_runner.markets import derived_market, exchange_fees, market_list_document


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchange", default="binance")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--trading-mode", choices=("spot", "futures", "all"), default="all")
    parser.add_argument("--pairs", nargs="*", default=None, help="only these symbols (default: every market)")
    parser.add_argument("--keep-info", action="store_true", help="keep ccxt's raw exchange payload per market")
    parser.add_argument("--derive", nargs="+", metavar="PAIR", help="offline: entries derived from these pairs")
    options = parser.parse_args(argv)

    import ccxt

    if options.derive:
        fees = exchange_fees(options.exchange)
        markets = [derived_market(pair, fees=fees) for pair in options.derive]
        how = f"derived from the pairs by backtest_runner.markets.derived_market (ccxt {ccxt.__version__} fees)"
        _write(options.output, market_list_document(options.exchange, markets, how=how))
        return

    exchange = getattr(ccxt, options.exchange)()
    # For binance this also loads the futures markets (its defaults fetch spot, linear and inverse).
    markets = list(exchange.load_markets().values())
    if options.trading_mode != "all":
        wanted_type = "spot" if options.trading_mode == "spot" else "swap"
        markets = [market for market in markets if market["type"] == wanted_type]
    if options.pairs:
        markets = [market for market in markets if market["symbol"] in set(options.pairs)]
    if not options.keep_info:
        markets = [{**market, "info": {}} for market in markets]
    _write(
        options.output, market_list_document(options.exchange, markets, how=f"ccxt {ccxt.__version__} load_markets()")
    )


def _write(output: Path, document: dict) -> None:
    output.write_text(json.dumps(document, indent=1) + "\n")
    print(f"saved {len(document['markets'])} {document['exchange']} markets to {output}")


if __name__ == "__main__":
    main()
