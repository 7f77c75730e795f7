"""Synthetic candles, for when the exchange cannot be reached and no data directory is given.

Writes plausible OHLCV files in freqtrade's feather layout (``futures/BTC_USDT_USDT-1h-futures``
plus ``-1h-mark`` and ``-1h-funding_rate``; spot ``ETH_BTC-1h``): a random walk with trending and
ranging regimes, so strategies trade. They are not market data: a marker file
(``SYNTHETIC_DATA.json``) says so, and the local stack and ``make demo`` report it.

Generating needs pandas (run it with the runner's environment:
``.venv-runner/bin/python -m local_stack.candles --out DIR``); reading the marker needs nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

MARKER = "SYNTHETIC_DATA.json"
DEFAULT_PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT", "ETH/BTC")
DEFAULT_TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")
DEFAULT_START = "2023-06-01"
DEFAULT_END = "2024-07-01"
START_PRICES = {"BTC": 27000.0, "ETH": 1850.0, "SOL": 20.0, "XRP": 0.5}
NOTE = "synthetic candles (random walk), not market data: backtest figures on them mean nothing"


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    path = Path(data_dir) / MARKER
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {"note": NOTE}


def spec(pairs: tuple[str, ...], timeframes: tuple[str, ...], start: str, end: str, seed: int) -> dict[str, Any]:
    return {
        "synthetic": True,
        "generator": "local_stack.candles",
        "pairs": list(pairs),
        "timeframes": list(timeframes),
        "start": start,
        "end": end,
        "seed": seed,
        "note": NOTE,
    }


def ensure_synthetic(out: Path, python: Path, *, seed: int = 42) -> Path:
    """Generate the default set into ``out`` unless it is there already; returns ``out``."""
    wanted = spec(DEFAULT_PAIRS, DEFAULT_TIMEFRAMES, DEFAULT_START, DEFAULT_END, seed)
    if read_marker(out) == wanted:
        return out
    subprocess.run(
        [str(python), "-m", "local_stack.candles", "--out", str(out), "--seed", str(seed)],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return out


# --- generation (pandas) ------------------------------------------------------------------

_FREQ = {
    "1m": "1min",
    "3m": "3min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "1h": "1h",
    "2h": "2h",
    "4h": "4h",
    "6h": "6h",
    "8h": "8h",
    "12h": "12h",
    "1d": "1D",
    "3d": "3D",
    "1w": "7D",
}


def _minute_path(rng: Any, start: str, end: str, price: float) -> Any:
    """Close prices every 5 minutes: regimes of drift (trends) and calm (ranges)."""
    import numpy as np
    import pandas as pd

    index = pd.date_range(start, end, freq="5min", tz="UTC", inclusive="left")
    n = len(index)
    returns = np.empty(n)
    at = 0
    while at < n:
        length = int(rng.integers(288, 288 * 20))  # 1 to 20 days
        drift = rng.choice([-1.0, 0.0, 1.0]) * rng.uniform(0.00002, 0.00012)
        vol = rng.uniform(0.0012, 0.004)
        returns[at : at + length] = drift + vol * rng.standard_normal(min(length, n - at))
        at += length
    closes = price * np.exp(np.cumsum(returns))
    volume = rng.lognormal(mean=3.0, sigma=0.6, size=n) * (1000.0 / price) * 100
    return pd.DataFrame({"close": closes, "volume": volume}, index=index)


def _resample(path: Any, timeframe: str, first_open: float) -> Any:
    frame = path["close"].resample(_FREQ[timeframe], label="left", closed="left").ohlc()
    frame["volume"] = path["volume"].resample(_FREQ[timeframe], label="left", closed="left").sum()
    # each candle opens at the previous close, as exchange candles do
    frame["open"] = frame["close"].shift(1).fillna(first_open)
    frame["high"] = frame[["open", "high"]].max(axis=1)
    frame["low"] = frame[["open", "low"]].min(axis=1)
    frame = frame.dropna().reset_index().rename(columns={"index": "date"})
    frame = frame.rename(columns={frame.columns[0]: "date"})
    frame["date"] = frame["date"].astype("datetime64[ns, UTC]")
    return frame[["date", "open", "high", "low", "close", "volume"]].astype(
        {c: "float64" for c in ("open", "high", "low", "close", "volume")}
    )


def generate(out: Path, pairs: tuple[str, ...], timeframes: tuple[str, ...], start: str, end: str, seed: int) -> None:
    import numpy as np
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)
    for number, pair in enumerate(pairs):
        rng = np.random.default_rng(seed * 1000 + number)
        symbol, _, settle = pair.partition(":")
        base, quote = symbol.split("/")
        price = START_PRICES.get(base, 100.0) if quote != "BTC" else START_PRICES.get(base, 100.0) / 27000.0
        path = _minute_path(rng, start, end, price)
        stem = pair.replace("/", "_").replace(":", "_")
        for timeframe in timeframes:
            frame = _resample(path, timeframe, price)
            if settle:
                target = out / "futures" / f"{stem}-{timeframe}-futures.feather"
            else:
                target = out / f"{stem}-{timeframe}.feather"
            target.parent.mkdir(parents=True, exist_ok=True)
            frame.to_feather(target)
        if settle:
            hourly = _resample(path, "1h", price)
            mark = hourly.copy()
            mark[["open", "high", "low", "close"]] *= 1.0 + rng.normal(0, 0.0002, size=(len(mark), 1))
            mark["volume"] = 0.0
            mark.to_feather(out / "futures" / f"{stem}-1h-mark.feather")
            rate = pd.DataFrame({"date": hourly["date"]})
            level = 0.0001 + 0.00005 * np.sin(np.arange(len(rate)) / 200.0)
            for column in ("open", "high", "low", "close"):
                rate[column] = level
            rate["volume"] = 0.0
            rate.to_feather(out / "futures" / f"{stem}-1h-funding_rate.feather")
    (out / MARKER).write_text(json.dumps(spec(pairs, timeframes, start, end, seed), indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description="Write synthetic OHLCV candles in freqtrade's layout.")
    parser.add_argument("--out", type=Path, required=True, help="exchange data directory to write (…/binance)")
    parser.add_argument("--pairs", default=",".join(DEFAULT_PAIRS))
    parser.add_argument("--timeframes", default=",".join(DEFAULT_TIMEFRAMES))
    parser.add_argument("--start", default=DEFAULT_START)
    parser.add_argument("--end", default=DEFAULT_END)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    generate(args.out, tuple(args.pairs.split(",")), tuple(args.timeframes.split(",")), args.start, args.end, args.seed)
    print(f"synthetic candles written to {args.out}")


if __name__ == "__main__":
    main()
