"""Where the runner's candles come from in the local stack."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from local_stack.candles import ensure_synthetic, read_marker

EXCHANGE = "binance"
EXCHANGE_HOST = ("fapi.binance.com", 443)


def exchange_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(EXCHANGE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def exchange_data_dir(path: Path) -> Path:
    """Accept the exchange's directory (…/binance) or its parent (a freqtrade ``datadir``)."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise SystemExit(f"--data-dir {path}: not a directory")
    if (path / EXCHANGE).is_dir():
        return path / EXCHANGE
    return path


def resolve_candles(data_dir: Path | None, mode: str, state_dir: Path) -> tuple[Path | None, bool, dict[str, Any]]:
    """(DATA_DIR for the runner or None, ALLOW_DOWNLOAD, provenance)."""
    if data_dir is not None:
        directory = exchange_data_dir(data_dir)
        marker = read_marker(directory)
        kind = "synthetic" if marker else "directory"
        return directory, False, {"kind": kind, "path": str(directory)}
    if mode == "download" or (mode == "auto" and exchange_reachable()):
        return None, True, {"kind": "download", "exchange": EXCHANGE}
    from local_stack.stack import RUNNER_PYTHON

    directory = ensure_synthetic(state_dir / "data" / "SYNTHETIC-candles-not-market-data" / EXCHANGE, RUNNER_PYTHON)
    return directory, False, {"kind": "synthetic", "path": str(directory), "why": "exchange not reachable"}
