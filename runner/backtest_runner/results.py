"""freqtrade's result files and the summary the pipeline keeps from them.

freqtrade exits 0 even when it rejected its configuration, so a run succeeded only if it wrote
a new ``.last_result.json`` naming a zip that exists (the results directory starts empty).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

# summary key -> key in freqtrade's per-strategy statistics
SUMMARY_FIELDS = {
    "profit_total": "profit_total",
    "profit_total_abs": "profit_total_abs",
    "total_trades": "total_trades",
    "winrate": "winrate",
    "max_drawdown": "max_relative_drawdown",
    "max_drawdown_abs": "max_drawdown_abs",
    "sharpe": "sharpe",
    "sortino": "sortino",
    "profit_factor": "profit_factor",
    "starting_balance": "starting_balance",
    "final_balance": "final_balance",
    "stake_currency": "stake_currency",
    "backtest_start": "backtest_start",
    "backtest_end": "backtest_end",
    "trading_mode": "trading_mode",
    "timeframe": "timeframe",
}


def new_result_archive(results_dir: Path) -> Path | None:
    """The zip freqtrade wrote into the (initially empty) results directory, or None."""
    marker = results_dir / ".last_result.json"
    if not marker.is_file():
        return None
    archive = results_dir / json.loads(marker.read_text())["latest_backtest"]
    return archive if archive.is_file() else None


def read_statistics(archive: Path) -> dict[str, Any]:
    """The backtest statistics document inside a result zip (``backtest-result-<time>.json``)."""
    with zipfile.ZipFile(archive) as bundle:
        name = f"{archive.stem}.json"
        return json.loads(bundle.read(name))


def extract_summary(statistics: dict[str, Any], strategy: str) -> dict[str, Any]:
    """The headline figures of one strategy's run, under the pipeline's names."""
    try:
        figures = statistics["strategy"][strategy]
    except KeyError:
        raise ValueError(f"the result holds no statistics for strategy {strategy}") from None
    return {name: figures[key] for name, key in SUMMARY_FIELDS.items() if figures.get(key) is not None}
