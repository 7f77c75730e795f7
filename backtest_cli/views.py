"""rich renderings of jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backtest_cli.jobs import plain

STATUS_STYLE = {
    "SUCCEEDED": "bold green",
    "FAILED": "bold red",
    "REJECTED": "red",
    "CANCELLED": "yellow",
    "INTERRUPTED": "magenta",
    "RUNNING": "cyan",
    "LAUNCHED": "blue",
    "DEFERRED": "dim",
    "RECEIVED": "dim",
}
SUMMARY_FIELDS = (
    ("total_trades", "trades", "{:d}"),
    ("profit_total", "profit", "{:+.2%}"),
    ("profit_total_abs", "profit (abs)", "{:+,.2f}"),
    ("winrate", "win rate", "{:.1%}"),
    ("max_drawdown", "max drawdown", "{:.2%}"),
    ("sharpe", "sharpe", "{:.2f}"),
    ("sortino", "sortino", "{:.2f}"),
    ("final_balance", "final balance", "{:,.2f}"),
)


def status_text(status: str | None) -> Text:
    return Text(status or "-", style=STATUS_STYLE.get(status or "", ""))


def _fmt(template: str, value: Any) -> str:
    try:
        return template.format(int(value) if template == "{:d}" else float(value))
    except (TypeError, ValueError):
        return str(value)


def elapsed(job: dict[str, Any]) -> str:
    start = job.get("started_at") or job.get("launched_at")
    if not start:
        return ""
    end = job.get("finished_at")
    try:
        t0 = datetime.fromisoformat(str(start))
        t1 = datetime.fromisoformat(str(end)) if end else datetime.now(UTC)
    except ValueError:
        return ""
    return f"{(t1 - t0).total_seconds():.0f}s"


def jobs_table(jobs: list[dict[str, Any]], title: str | None = None) -> Table:
    # Fits an 80-column terminal: long values fold onto more lines rather than being cut.
    table = Table(title=title, expand=False, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("job", overflow="fold", min_width=8)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("strategy", overflow="fold", min_width=8)
    table.add_column("tf", no_wrap=True)
    table.add_column("pairs", overflow="fold", min_width=7)
    table.add_column("try", no_wrap=True, justify="right")
    table.add_column("time", no_wrap=True, justify="right")
    table.add_column("result / reason", overflow="fold", min_width=12, ratio=1)
    for job in jobs:
        request = job.get("request", {}) or {}
        summary = job.get("summary") or {}
        if job.get("status") == "SUCCEEDED" and summary:
            outcome = (
                f"{_fmt('{:d}', summary.get('total_trades'))} trades, "
                f"profit {_fmt('{:+.2%}', summary.get('profit_total'))}"
            )
        elif job.get("errors"):
            outcome = "; ".join(f"{e['field']}: {e['rule']}" for e in job["errors"])
        else:
            outcome = str(job.get("status_reason", ""))
        table.add_row(
            str(job.get("job_id")),
            status_text(job.get("status")),
            str(request.get("strategy", "")),
            str(request.get("timeframe", "")),
            ", ".join(request.get("symbols", []) or []),
            str(plain(job.get("attempts", "")) or ""),
            elapsed(job),
            outcome,
        )
    return table


def job_panel(job: dict[str, Any]) -> Panel:
    job = plain(job)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")  # ARNs and URIs wrap whole, to copy them from the screen
    facts.add_row("status", status_text(job.get("status")))
    for key in (
        "status_reason",
        "attempts",
        "task_arn",
        "capacity_provider",
        "received_at",
        "launched_at",
        "started_at",
        "finished_at",
        "exit_code",
        "result_uri",
        "experiment_name",
    ):
        if job.get(key) not in (None, ""):
            facts.add_row(key.replace("_", " "), str(job[key]))
    parts: list[Any] = [facts]
    if job.get("errors"):
        errors = Table("field", "rule", title="errors", title_justify="left")
        for error in job["errors"]:
            errors.add_row(error["field"], error["rule"])
        parts.append(errors)
    if job.get("request"):
        request = job["request"]
        parts.append(
            Text(
                f"request: {request.get('strategy')} {request.get('timeframe')} "
                f"{request.get('start_date', '…')}..{request.get('end_date', '…')} "
                f"{', '.join(request.get('symbols', []))}"
            )
        )
    if job.get("summary"):
        parts.append(summary_table(job["summary"]))
    return Panel(Group(*parts), title=f"job {job.get('job_id')}", expand=False)


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="summary", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, label, template in SUMMARY_FIELDS:
        if summary.get(key) is not None:
            table.add_row(label, _fmt(template, summary[key]))
    for key in ("backtest_start", "backtest_end", "data_source", "markets_source", "derived_market_pairs"):
        if summary.get(key):
            value = summary[key]
            table.add_row(key.replace("_", " "), ", ".join(value) if isinstance(value, list) else str(value))
    return table
