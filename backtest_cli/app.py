"""``backtest``: the command line of the backtest pipeline (typer + rich)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from backtest_cli.backend import DEFAULT_STATE_DIR, REPO, Backend, BackendError, deployed_backend, local_backend
from backtest_cli.jobs import (
    ACTIVE,
    download_results,
    get_job,
    is_done,
    list_jobs,
    plain,
    result_files,
    send,
)
from backtest_cli.views import job_panel, jobs_table
from backtest_core.jobs import JobStatus
from backtest_core.request import RequestRejected

app = typer.Typer(
    help="Submit backtests and follow their jobs, on a deployed environment (--env) or the local stack (default).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


class Target:
    def __init__(self, env: str | None, state_dir: Path, region: str | None) -> None:
        self.env, self.state_dir, self.region = env, state_dir, region
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            try:
                self._backend = deployed_backend(self.env, self.region) if self.env else local_backend(self.state_dir)
            except BackendError as error:
                errors.print(f"[red]error:[/red] {error}")
                raise typer.Exit(1) from None
        return self._backend


@app.callback()
def main_options(
    ctx: typer.Context,
    env: Annotated[str | None, typer.Option("--env", help="deployed environment (dev, staging, prod)")] = None,
    local: Annotated[bool, typer.Option("--local", help="the local stack (the default without --env)")] = False,
    state_dir: Annotated[Path, typer.Option(help="the local stack's state directory")] = DEFAULT_STATE_DIR,
    region: Annotated[str | None, typer.Option(help="AWS region of --env (default: your AWS config)")] = None,
) -> None:
    if env and local:
        errors.print("[red]error:[/red] --env and --local exclude each other")
        raise typer.Exit(2)
    ctx.obj = Target(env, state_dir, region)


def _backend(ctx: typer.Context) -> Backend:
    return ctx.obj.backend


# --- submit -----------------------------------------------------------------------------------


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSON request (object or list); - for stdin")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="strategy class name")] = None,
    timeframe: Annotated[str, typer.Option(help="candle timeframe")] = "1h",
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="end day, YYYY-MM-DD (UTC), exclusive")] = None,
    symbol: Annotated[list[str] | None, typer.Option("--symbol", "-s", help="pair; repeat for more")] = None,
    stoploss: Annotated[float | None, typer.Option(help="e.g. -0.05")] = None,
    stake_amount: Annotated[float | None, typer.Option(help="stake per trade")] = None,
    job_id: Annotated[str | None, typer.Option(help="your id for the job (default: generated)")] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name")] = None,
    priority: Annotated[int | None, typer.Option(help="0..9")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="send without checking the rules first")] = False,
) -> None:
    """Send a backtest request; prints the job id (one per line)."""
    documents = _documents(
        file, strategy, timeframe, start, end, symbol, stoploss, stake_amount, job_id, experiment, priority
    )
    backend = _backend(ctx)
    for document in documents:
        try:
            print(send(backend, document, check=not no_check))
        except RequestRejected as rejected:
            errors.print("[red]request rejected before sending:[/red]")
            for error in rejected.errors:
                errors.print(f"  {error.field}: {error.rule}")
            raise typer.Exit(2) from None


def _documents(
    file: Path | None,
    strategy: str | None,
    timeframe: str,
    start: str | None,
    end: str | None,
    symbol: list[str] | None,
    stoploss: float | None,
    stake_amount: float | None,
    job_id: str | None,
    experiment: str | None,
    priority: int | None,
) -> list[Any]:
    if file is not None:
        if strategy:
            errors.print("[red]error:[/red] give --file or --strategy, not both")
            raise typer.Exit(2)
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            errors.print(f"[red]error:[/red] {file} is not JSON: {error}")
            raise typer.Exit(2) from None
        return loaded if isinstance(loaded, list) else [loaded]
    if not strategy:
        errors.print("[red]error:[/red] give --strategy NAME (and options) or --file REQUEST.json")
        raise typer.Exit(2)
    config: dict[str, Any] = {"strategy": strategy, "timeframe": timeframe}
    for key, value in (
        ("start_date", start),
        ("end_date", end),
        ("stoploss", stoploss),
        ("stake_amount", stake_amount),
    ):
        if value is not None:
            config[key] = value
    if symbol:
        config["symbols"] = symbol
    document: dict[str, Any] = {"config": config}
    for key, value in (("job_id", job_id), ("experiment_name", experiment), ("priority", priority)):
        if value is not None:
            document[key] = value
    return [document]


# --- reading ----------------------------------------------------------------------------------


@app.command()
def status(ctx: typer.Context, job_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One job: state, reason, errors, task, timings and summary."""
    job = get_job(_backend(ctx), job_id)
    if job is None:
        errors.print(f"[red]no job {job_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(plain(job), indent=2, default=str))
    else:
        console.print(job_panel(job))


@app.command("list")
def list_command(
    ctx: typer.Context,
    status_filter: Annotated[list[JobStatus] | None, typer.Option("--status", help="only these states")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Jobs, newest first."""
    jobs = list_jobs(_backend(ctx), status_filter or None, limit)
    if as_json:
        print(json.dumps([plain(j) for j in jobs], indent=2, default=str))
    else:
        console.print(jobs_table(jobs, title=f"{len(jobs)} job(s) on {_backend(ctx).label}"))


@app.command()
def results(
    ctx: typer.Context,
    job_id: str,
    download: Annotated[Path | None, typer.Option(help="copy the result files into this directory")] = None,
) -> None:
    """A job's summary and its result files."""
    backend = _backend(ctx)
    job = get_job(backend, job_id)
    if job is None:
        errors.print(f"[red]no job {job_id}[/red]")
        raise typer.Exit(1)
    console.print(job_panel(job))
    files = result_files(backend, job_id)
    if not files:
        done = job.get("status") in ("SUCCEEDED", "FAILED", "REJECTED", "CANCELLED")
        console.print("no result files" if done else "no result files yet: the job has not finished")
    for item in files:
        console.print(f"  s3://{backend.results_bucket}/{item['key']}  ({item['size']:,} bytes)")
    if download and files:
        for path in download_results(backend, job_id, download):
            console.print(f"  saved {path}")


@app.command()
def cancel(ctx: typer.Context, job_id: str, reason: Annotated[str, typer.Option()] = "cancelled by a user") -> None:
    """Cancel a job: it is marked CANCELLED and its task, if any, is stopped."""
    settled = _backend(ctx).lifecycle().cancel(job_id, reason)
    console.print(f"{job_id}: {settled.change.value} {settled.detail}")
    if settled.change.value != "CANCELLED":
        raise typer.Exit(1)


@app.command()
def watch(
    ctx: typer.Context,
    job_ids: Annotated[list[str] | None, typer.Argument(help="jobs to follow (default: every active job)")] = None,
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 1.0,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 3600.0,
) -> None:
    """A live table of the jobs until they end."""
    backend = _backend(ctx)
    ids = list(job_ids or [j["job_id"] for j in list_jobs(backend, ACTIVE, limit=200)])
    if not ids:
        console.print("no active jobs")
        return
    final = follow(backend, ids, interval=interval, timeout=timeout)
    if not all(is_done(job) for job in final.values()):
        raise typer.Exit(1)


def follow(
    backend: Backend, ids: list[str], *, interval: float = 1.0, timeout: float = 3600.0, title: str = "jobs"
) -> dict[str, dict[str, Any] | None]:
    deadline = time.monotonic() + timeout
    jobs: dict[str, dict[str, Any] | None] = {}

    def table() -> Any:
        rows = [job or {"job_id": job_id, "status": "waiting for the consumer"} for job_id, job in jobs.items()]
        done = sum(1 for job in jobs.values() if is_done(job))
        return jobs_table(rows, title=f"{title}: {done}/{len(ids)} ended ({backend.label})")

    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            jobs = {job_id: get_job(backend, job_id) for job_id in ids}
            live.update(table())
            if all(is_done(job) for job in jobs.values()) or time.monotonic() > deadline:
                return jobs
            time.sleep(interval)


# --- the local stack --------------------------------------------------------------------------


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def up(ctx: typer.Context) -> None:
    """Run the local stack in the foreground (Ctrl-C stops it); other options go to
    `python -m local_stack up` (see its --help). `backtest ...` then talks to it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "lambda_src")])}
    os.execve(sys.executable, [sys.executable, "-m", "local_stack", "up", *ctx.args], env)


@app.command(context_settings={"allow_extra_args": False})
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="an existing freqtrade data directory")] = None,
    candles: Annotated[str, typer.Option(help="auto | download | synthetic (without --data-dir)")] = "auto",
    state_dir: Annotated[Path, typer.Option(help="where the demo's stack keeps its state")] = REPO / ".local-stack",
    request: Annotated[Path | None, typer.Option(help="a request file instead of the example")] = None,
) -> None:
    """The whole pipeline on this machine: start the local stack, run the example request, show the results."""
    from backtest_cli.demo import run_demo

    raise typer.Exit(run_demo(console, state_dir=state_dir, data_dir=data_dir, candles=candles, request=request))


def main() -> None:
    app(prog_name="backtest")
