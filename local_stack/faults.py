"""Fault switches for drills, and the piece of ECS behaviour moto leaves out.

- ``interrupt_share``: that share of tasks is taken back by "Spot" mid-run (the executor
  SIGTERMs the runner and reports stopCode SpotInterruption).
- ``fail_launch_share``: for that share of launches (by RunTask clientToken), the first
  ``fail_launch_times`` RunTask calls answer HTTP 200 with no task and the failure
  "Capacity is unavailable at this time", as ECS does when Spot capacity runs out.
- ``duplicate_share``: that share of SQS messages is delivered twice, the second time to a
  concurrent invocation, as SQS's at-least-once delivery allows.

Choices are a hash of a stable key and ``seed``, so a drill is repeatable whatever the timing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from local_stack.ecs_emulation import IdempotentEcsClient

CAPACITY_UNAVAILABLE = "Capacity is unavailable at this time"


@dataclass(frozen=True)
class FaultSwitches:
    interrupt_share: float = 0.0
    fail_launch_share: float = 0.0
    fail_launch_times: int = 2  # below the queue's maxReceiveCount (5): the job still launches
    duplicate_share: float = 0.0
    seed: int = 7

    def picks(self, kind: str, key: str, share: float) -> bool:
        if share <= 0:
            return False
        digest = hashlib.sha256(f"{self.seed}:{kind}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < share

    def interrupts(self, task_arn: str) -> bool:
        return self.picks("interrupt", task_arn, self.interrupt_share)

    def fails_launch(self, client_token: str) -> bool:
        return self.picks("launch", client_token, self.fail_launch_share)

    def duplicates(self, message_id: str) -> bool:
        return self.picks("duplicate", message_id, self.duplicate_share)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LaunchLedger:
    """What the local ECS remembers across clients: clientTokens, calls, launch times."""

    def __init__(self, faults: FaultSwitches, on_launch: Callable[[str, float], None] | None = None) -> None:
        self.faults = faults
        self.on_launch = on_launch
        self.lock = threading.Lock()
        self.by_token: dict[str, str] = {}
        self.calls: dict[str, int] = {}
        self.refused_launches = 0
        self.token_replays = 0


class LocalEcs:
    """An ECS client in the local stack: moto's, with RunTask's clientToken honoured
    (``ecs_emulation.IdempotentEcsClient``: moto ignores the token) and the launch-failure
    switch above; launch times are noted for the concurrency figures."""

    def __init__(self, ecs: Any, ledger: LaunchLedger) -> None:
        self._ecs = IdempotentEcsClient(ecs)
        self._ledger = ledger

    def run_task(self, **params: Any) -> dict[str, Any]:
        ledger = self._ledger
        token = params.get("clientToken", "")
        with ledger.lock:
            ledger.calls[token] = calls = ledger.calls.get(token, 0) + 1
            if (
                token not in ledger.by_token
                and ledger.faults.fails_launch(token)
                and calls <= ledger.faults.fail_launch_times
            ):
                ledger.refused_launches += 1
                return {
                    "tasks": [],
                    "failures": [{"arn": params.get("taskDefinition", ""), "reason": CAPACITY_UNAVAILABLE}],
                }
            called_at = time.time()
            response = self._ecs.run_task(**params)
            if response.get("tasks"):
                arn = response["tasks"][0]["taskArn"]
                if token in ledger.by_token:
                    ledger.token_replays += 1
                elif token:
                    ledger.by_token[token] = arn
                if ledger.on_launch:
                    ledger.on_launch(arn, called_at)
            return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)


class Boto3WithLocalEcs:
    """Stands in for the ``boto3`` module where the Lambda code creates its clients: every
    client is the real boto3 one (pointed at the emulator by AWS_ENDPOINT_URL) except ECS,
    which is wrapped in ``LocalEcs``."""

    def __init__(self, faults: FaultSwitches, on_launch: Callable[[str, float], None] | None = None) -> None:
        import boto3

        self._boto3 = boto3
        self.ledger = LaunchLedger(faults, on_launch)

    def client(self, service: str, *args: Any, **kwargs: Any) -> Any:
        made = self._boto3.client(service, *args, **kwargs)
        return LocalEcs(made, self.ledger) if service == "ecs" else made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._boto3, name)
