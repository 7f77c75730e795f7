"""Saved market lists: freqtrade loads the exchange's market list at start, even for a backtest.

Offline (or where the exchange blocks the region) that network call fails and freqtrade stops
with "Could not load markets". The runner therefore serves a saved list in its place: a JSON file
(``{"exchange": ..., "saved_at": ..., "markets": [<ccxt unified market>, ...]}``) read from a path
or an S3 object, plus, for a pair that has candles but no saved entry, an entry derived from the
pair itself (flagged in the summary, because its precision and limits are guesses).

``serve_markets`` replaces ccxt's market loading in the freqtrade process; ``save_markets`` (the
``python -m backtest_runner.save_markets`` command) writes such a file from a live exchange.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BUNDLED_MARKETS_DIR = Path(__file__).resolve().parent.parent / "markets"

# Price and amount step of a derived entry: fine enough never to round a backtest's orders away.
DERIVED_TICK = 1e-8


def bundled_markets_path(exchange: str) -> Path | None:
    """The market list shipped in runner/markets/ for this exchange, if there is one."""
    path = BUNDLED_MARKETS_DIR / f"{exchange}.json"
    return path if path.is_file() else None


def parse_market_list(text: str, *, exchange: str, source: str) -> dict[str, dict[str, Any]]:
    """The saved markets by symbol; a list saved for another exchange is refused."""
    document = json.loads(text)
    saved_for = document.get("exchange")
    if saved_for != exchange:
        raise ValueError(f"market list {source} was saved for exchange {saved_for!r}, not {exchange!r}")
    return {market["symbol"]: market for market in document["markets"]}


def market_list_document(exchange: str, markets: list[dict[str, Any]], *, how: str) -> dict[str, Any]:
    """The file form of a market list; ``how`` says where the entries came from."""
    return {
        "exchange": exchange,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "how": how,
        "markets": sorted(markets, key=lambda market: market["symbol"]),
    }


def derived_market(pair: str, *, fees: dict[str, Any]) -> dict[str, Any]:
    """A ccxt unified market for ``BASE/QUOTE`` (spot) or ``BASE/QUOTE:SETTLE`` (linear perpetual).

    ``fees`` is the exchange's ccxt fee table (``exchange.fees``); precision and limits are not
    knowable from the pair, so they are permissive and the entry says it was derived.
    """
    symbol, _, settle = pair.partition(":")
    base, quote = symbol.split("/")
    is_swap = bool(settle)
    trading_fees = (fees.get("linear", {}).get("trading") if is_swap else None) or fees.get("trading", {})
    return {
        "id": f"{base}{quote}",
        "lowercaseId": f"{base}{quote}".lower(),
        "symbol": pair,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle or None,
        "type": "swap" if is_swap else "spot",
        "spot": not is_swap,
        "margin": False,
        "swap": is_swap,
        "future": False,
        "option": False,
        "index": False,
        "active": True,
        "contract": is_swap,
        "linear": True if is_swap else None,
        "inverse": False if is_swap else None,
        "subType": "linear" if is_swap else None,
        "taker": float(trading_fees.get("taker", 0.001)),
        "maker": float(trading_fees.get("maker", 0.001)),
        "contractSize": 1.0 if is_swap else None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {"amount": DERIVED_TICK, "price": DERIVED_TICK, "cost": None, "base": None, "quote": None},
        "limits": {
            "leverage": {"min": 1.0 if is_swap else None, "max": None},
            "amount": {"min": None, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": None, "max": None},
        },
        "marginModes": {"cross": is_swap or None, "isolated": is_swap or None},
        "created": None,
        "info": {"derived_from_pair": pair},
    }


def exchange_fees(exchange: str) -> dict[str, Any]:
    """ccxt's built-in fee table of an exchange (no network call)."""
    import ccxt

    return getattr(ccxt, exchange)().fees


def serve_markets(markets: list[dict[str, Any]]) -> None:
    """Make every ccxt exchange object in this process load ``markets`` instead of calling the exchange.

    freqtrade loads markets through ccxt's async ``load_markets`` (and, for fees, the sync one);
    both go through the two base-class methods replaced here.
    """
    import ccxt
    import ccxt.async_support

    def load_saved(exchange: Any, reload: bool = False) -> dict[str, Any]:
        if exchange.markets and not reload:
            return exchange.markets
        # set_markets annotates the dicts it gets; a copy keeps each exchange object independent.
        return exchange.set_markets(copy.deepcopy(markets))

    def load_markets(self: Any, reload: bool = False, params: dict | None = None) -> dict[str, Any]:
        return load_saved(self, reload)

    async def load_markets_helper(self: Any, reload: bool = False, params: dict | None = None) -> dict[str, Any]:
        return load_saved(self, reload)

    ccxt.Exchange.load_markets = load_markets
    ccxt.async_support.Exchange.load_markets_helper = load_markets_helper
