"""``python -m local_stack up``: run the local stack in the foreground until Ctrl-C / SIGTERM.

Clients find it through ``<state-dir>/state.json`` (endpoint, resource names, settings, where
the candles come from); the Lambda functions' output goes to ``<state-dir>/lambdas.log``, the
stack's own log to ``<state-dir>/stack.log``, each runner's to ``<state-dir>/tasks/<id>/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from local_stack.data import resolve_candles
from local_stack.faults import FaultSwitches
from local_stack.lambdas import REPO
from local_stack.stack import LocalStack, StackConfig, real_runner_command, standin_runner_command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack and keep it running")
    up.add_argument("--state-dir", type=Path, default=REPO / ".local-stack")
    up.add_argument("--cap", type=int, default=10, help="MAX_CONCURRENT_TASKS (default 10, the consumer's own default)")
    up.add_argument("--workers", type=int, default=None, help="runner processes at once (default: CPU cores)")
    up.add_argument("--data-dir", type=Path, default=None, help="an existing freqtrade data directory")
    up.add_argument(
        "--candles",
        choices=("auto", "download", "synthetic"),
        default="auto",
        help="without --data-dir: download when the exchange is reachable (auto), or generate",
    )
    up.add_argument(
        "--standin-runner",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run a stand-in that sleeps SECONDS instead of freqtrade (pipeline benchmarks)",
    )
    up.add_argument("--interrupt-share", type=float, default=0.0, help="share of tasks Spot interrupts")
    up.add_argument("--interrupt-after", type=float, default=2.0, help="seconds into a run the interruption hits")
    up.add_argument("--fail-launch-share", type=float, default=0.0, help="share of launches refused (capacity)")
    up.add_argument("--duplicate-share", type=float, default=0.0, help="share of messages delivered twice")
    up.add_argument("--seed", type=int, default=7)
    up.add_argument("--visibility-timeout", type=int, default=5)
    up.add_argument("--defer-delay", type=int, default=2, help="DEFER_DELAY_SECONDS")
    up.add_argument("--max-attempts", type=int, default=3)
    up.add_argument("--reconcile-every", type=float, default=15.0)
    up.add_argument("--port", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(state_dir / "stack.log"), logging.StreamHandler(sys.stderr)],
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The Lambda functions print their logs and EMF metrics to stdout, as in Lambda; here that
    # is a file (CloudWatch Logs' stand-in), so a terminal or a live view stays readable.
    sys.stdout = open(state_dir / "lambdas.log", "a", buffering=1)  # noqa: SIM115

    data_dir, allow_download, provenance = resolve_candles(args.data_dir, args.candles, state_dir)
    logging.info("candles: %s", provenance)
    config = StackConfig(
        state_dir=state_dir,
        max_concurrent_tasks=args.cap,
        workers=args.workers or (os.cpu_count() or 2),
        runner_command=standin_runner_command(args.standin_runner)
        if args.standin_runner is not None
        else real_runner_command(),
        data_dir=data_dir,
        allow_download=allow_download,
        candles=provenance,
        faults=FaultSwitches(
            interrupt_share=args.interrupt_share,
            fail_launch_share=args.fail_launch_share,
            duplicate_share=args.duplicate_share,
            seed=args.seed,
        ),
        visibility_timeout=args.visibility_timeout,
        defer_delay_seconds=args.defer_delay,
        max_attempts=args.max_attempts,
        reconcile_every_seconds=args.reconcile_every,
        interrupt_after_seconds=args.interrupt_after,
        port=args.port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack = LocalStack(config).start()
    logging.info("local stack up at %s (state: %s)", stack.endpoint, state_dir / "state.json")
    try:
        stop.wait()
    finally:
        logging.info("stopping the local stack")
        stack.stop()


if __name__ == "__main__":
    main()
