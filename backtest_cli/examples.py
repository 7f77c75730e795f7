"""Requests shipped with the CLI."""

from __future__ import annotations

from typing import Any

# The seed's example request (the product brief's), which `make demo` runs.
EXAMPLE: dict[str, Any] = {
    "config": {
        "strategy": "TrendFollowingStrategy",
        "timeframe": "1h",
        "start_date": "2024-01-01",
        "end_date": "2024-03-01",
        "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
        "stoploss": -0.05,
        "stake_amount": 1000.0,
    },
    "experiment_name": "demo",
}
