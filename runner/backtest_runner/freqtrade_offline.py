"""freqtrade's own command line, with a saved market list served in place of the exchange.

    python -m backtest_runner.freqtrade_offline MARKETS_JSON backtesting --config ...
    python -m backtest_runner.freqtrade_offline --prewarm     (arguments arrive on stdin)

MARKETS_JSON is a market-list file (see markets.py), or ``-`` for the exchange's live list.
Everything after it goes to freqtrade unchanged, so this is the bare ``freqtrade`` command plus
one patch; the benchmark's baseline runs it that way.

``--prewarm`` is how the runner uses it: the process starts with the runner and imports
freqtrade's backtesting modules (about two seconds) while the runner reads the job and prepares
candles on the other core; then it reads one JSON line ``{"markets_file": ..., "arguments": [...]}``
from stdin and runs. End of input without a line means: nothing to run, exit quietly.
"""

from __future__ import annotations

import json
import sys

LIVE_MARKETS = "-"


def run_freqtrade(markets_file: str | None, arguments: list[str]) -> None:
    if markets_file and markets_file != LIVE_MARKETS:
        from backtest_runner.markets import serve_markets

        with open(markets_file, encoding="utf-8") as handle:
            serve_markets(json.load(handle)["markets"])

    from freqtrade.main import main as freqtrade_main

    freqtrade_main(arguments)  # exits the process with freqtrade's own exit code


def prewarm_then_run() -> None:
    import freqtrade.main
    import freqtrade.optimize.backtesting  # noqa: F401

    line = sys.stdin.readline()
    if not line:
        return
    job = json.loads(line)
    run_freqtrade(job["markets_file"], job["arguments"])


def main(argv: list[str]) -> None:
    if argv == ["--prewarm"]:
        prewarm_then_run()
    elif len(argv) >= 2:
        run_freqtrade(argv[0], argv[1:])
    else:
        sys.exit("usage: python -m backtest_runner.freqtrade_offline MARKETS_JSON|- FREQTRADE_ARGS... | --prewarm")


if __name__ == "__main__":
    main(sys.argv[1:])
