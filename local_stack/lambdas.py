"""Plays the Lambda runtime: imports a function's handler module with its environment set
(the handlers read their settings at import) and invokes ``lambda_handler(event, context)``."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local_stack.aws import ACCOUNT, REGION

REPO = Path(__file__).resolve().parent.parent


def ensure_import_paths() -> None:
    """The Lambda asset's layout: ``lambda_src`` is the root of every function's code."""
    for path in (REPO / "lambda_src", REPO):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One Lambda function: its handler module, imported once (a warm container)."""

    def __init__(self, name: str, module: str, *, timeout_seconds: int, environment: dict[str, str]) -> None:
        ensure_import_paths()
        os.environ.update(environment)
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.module: ModuleType = importlib.import_module(module)
        self.invocations = 0
        self.errors = 0
        self._count = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._count:
            self.invocations += 1
        try:
            return self.module.lambda_handler(event, LambdaContext(self.name, self.timeout_seconds))
        except Exception:
            with self._count:
                self.errors += 1
            raise


def install_boto3_shim(shim: Any) -> None:
    """Make the Lambda code create its AWS clients through ``shim``:
    ``backtest_core.adapters.wiring`` is the one place the functions build them."""
    ensure_import_paths()
    wiring = importlib.import_module("backtest_core.adapters.wiring")
    wiring.boto3 = shim  # type: ignore[attr-defined]
