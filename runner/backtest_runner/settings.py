"""The runner's settings, read once from the environment and validated before anything runs.

JOB_ID and ATTEMPT come from the container overrides of RunTask; everything else from the task
definition (or the local stack's executor). An invalid value stops the runner with the
variable's name and the rule it breaks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from backtest_runner.strategies import BUNDLED_STRATEGY_DIR

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9._-]+$"


class SettingsError(Exception):
    """An environment variable is missing or invalid; the message names it."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    JOB_ID: Annotated[str, Field(pattern=JOB_ID_PATTERN)]
    ATTEMPT: Annotated[int, Field(ge=1)] = 1
    WORKFLOW_STATE_TABLE: Annotated[str, Field(pattern=NAME_PATTERN)]
    RESULTS_BUCKET: Annotated[str, Field(pattern=NAME_PATTERN)]
    # Candle sources, tried in this order: DATA_DIR, then DATA_BUCKET, then download (if allowed).
    DATA_BUCKET: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    DATA_DIR: Path | None = None
    # A saved market list: a file path or s3://bucket/key. Unset: the list in runner/markets/.
    MARKETS_URI: str | None = None
    EXCHANGE: Annotated[str, Field(pattern=r"^[a-z0-9]+$")] = "binance"
    ALLOW_DOWNLOAD: bool = False
    MLFLOW_TRACKING_URI: str | None = None
    ENVIRONMENT: str = "local"
    # The folder of freqtrade strategy files; a user's own strategy is one more file there.
    STRATEGY_DIR: Path = BUNDLED_STRATEGY_DIR
    # Where the runner writes the freqtrade config, candles it fetched and the results.
    WORK_DIR: Path = Path("/tmp/backtest-runner")

    @model_validator(mode="after")
    def _has_candle_source(self) -> Settings:
        if self.DATA_DIR is None and self.DATA_BUCKET is None and not self.ALLOW_DOWNLOAD:
            raise ValueError("no candle source: set DATA_DIR or DATA_BUCKET, or ALLOW_DOWNLOAD=true")
        return self

    @field_validator("DATA_DIR", "STRATEGY_DIR")
    @classmethod
    def _data_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("MARKETS_URI")
    @classmethod
    def _markets_uri(cls, value: str | None) -> str | None:
        if value is None or value.startswith("s3://"):
            return value
        if not Path(value).is_file():
            raise ValueError(f"{value} is neither an s3://bucket/key URI nor an existing file")
        return value


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from the environment; empty variables count as unset."""
    values = {key: value for key, value in environ.items() if key in Settings.model_fields and value != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            name = str(detail["loc"][0]) if detail["loc"] else "environment"
            rule = "is required" if detail["type"] == "missing" else detail["msg"]
            problems.append(f"{name}: {rule}")
        raise SettingsError("; ".join(problems)) from None
