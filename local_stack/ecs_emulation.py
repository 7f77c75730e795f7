"""What moto's ECS leaves out and the pipeline relies on: RunTask's clientToken idempotency.

Real ECS returns the task of an earlier RunTask call that carried the same clientToken
instead of starting another one; moto 5.2.5 ignores the token. ``IdempotentEcsClient`` wraps a
(moto-backed) boto3 ECS client and adds that behaviour, so the local stack and the tests
exercise the same exactly-once path a deployed consumer does.
"""

from __future__ import annotations

import copy
import threading
from typing import Any


class IdempotentEcsClient:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._launched: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.run_task_calls = 0

    def run_task(self, **params: Any) -> dict[str, Any]:
        token = params.get("clientToken")
        key = (params.get("cluster", "default"), token or "")
        with self._lock:  # two racing calls with one token must not both reach ECS
            self.run_task_calls += 1
            if token and key in self._launched:
                return copy.deepcopy(self._launched[key])
            response = self._client.run_task(**params)
            if token and response.get("tasks"):
                self._launched[key] = copy.deepcopy(response)
            return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
