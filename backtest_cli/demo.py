"""``backtest demo`` (``make demo``): the example request through the whole local pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from backtest_cli.app import follow
from backtest_cli.backend import local_backend, stack_alive
from backtest_cli.examples import EXAMPLE
from backtest_cli.jobs import dlq_depth, download_results, result_files, send
from backtest_cli.views import job_panel
from local_stack.process import StackProcess


def run_demo(console: Console, *, state_dir: Path, data_dir: Path | None, candles: str, request: Path | None) -> int:
    args = ["--candles", candles]
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    documents: list[Any] = [EXAMPLE]
    if request:
        loaded = json.loads(request.read_text())
        documents = loaded if isinstance(loaded, list) else [loaded]
    console.rule("backtest pipeline: local demo")
    stack = StackProcess(state_dir, args)
    running = _running_state(state_dir)
    if running:
        # a stack started with `backtest up` is already serving this state directory: use it
        console.print(f"using the local stack already running at {running['endpoint']} (pid {running['pid']})")
        stack.state = running
    else:
        console.print(
            "starting the local stack (moto on 127.0.0.1, consumer, task events, reconciler, Fargate executor)…"
        )
        try:
            stack.start()
        except RuntimeError as error:
            console.print(f"[red]the local stack did not start:[/red] {error}")
            return 1
    try:
        backend = local_backend(state_dir)
        data = stack.state.get("data", {})
        _say_candles(console, data)
        job_ids = [send(backend, document) for document in documents]
        for document, job_id in zip(documents, job_ids, strict=True):
            console.print(f"submitted [bold]{job_id}[/bold]: {json.dumps(document)}")
        final = follow(backend, job_ids, interval=1.0, timeout=1800, title="demo")
        ok = True
        for job_id, job in final.items():
            if job is None:
                ok = False
                continue
            console.print(job_panel(job))
            ok &= job.get("status") == "SUCCEEDED"
            saved = download_results(backend, job_id, state_dir / "results")
            files = result_files(backend, job_id)
            console.print("result files:")
            for item in files:
                console.print(f"  s3://{backend.results_bucket}/{item['key']}  (in the emulator)")
            for path in saved:
                console.print(f"  copied to {path}")
            runs = [r for r in stack.runs() if r["job_id"] == job_id]
            for run in runs:
                console.print(f"  runner log: {run['log']}")
        if data.get("kind") == "synthetic":
            console.print(
                Panel(
                    "These results come from SYNTHETIC candles (a random walk generated locally, because the exchange "
                    "could not be reached). They show the pipeline working; the figures say nothing about the "
                    "strategy. Use --data-dir with real freqtrade data for meaningful figures.",
                    title="[bold yellow]synthetic data[/bold yellow]",
                    expand=False,
                )
            )
        console.print(f"dead-letter queue: {dlq_depth(backend)} message(s)")
        console.print(f"logs: {state_dir / 'stack.log'} (stack), {state_dir / 'lambdas.log'} (Lambda functions)")
        return 0 if ok else 1
    finally:
        if not running:
            console.print("stopping the local stack…")
            stack.stop()


def _running_state(state_dir: Path) -> dict[str, Any] | None:
    state_file = state_dir / "state.json"
    if not state_file.is_file():
        return None
    try:
        state = json.loads(state_file.read_text())
    except ValueError:
        return None
    return state if stack_alive(state) else None


def _say_candles(console: Console, data: dict[str, Any]) -> None:
    kind = data.get("kind")
    if kind == "synthetic":
        console.print(
            f"[bold yellow]candles: SYNTHETIC[/bold yellow] (generated, not market data) in {data.get('path')}"
            f" — {data.get('why', 'marker file found')}"
        )
    elif kind == "download":
        console.print(f"candles: downloaded from {data.get('exchange')} by the runner")
    else:
        console.print(f"candles: from {data.get('path')}")
