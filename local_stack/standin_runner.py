"""A stand-in for the runner, for pipeline benchmarks and drills: it sleeps and exits 0.

It measures the pipeline (queue, consumer, slots, executor, task events), not freqtrade.
Like the real runner it stops on SIGTERM with exit code 143.
"""

from __future__ import annotations

import signal
import sys
import time


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    time.sleep(seconds)


if __name__ == "__main__":
    main()
