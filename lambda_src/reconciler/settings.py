"""reconciler settings, from the Lambda's environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from backtest_core.settings import LifecycleSettings


class ReconcilerSettings(LifecycleSettings):
    max_task_duration_minutes: Annotated[int, Field(ge=1)] = 360
