"""Typed settings read from the environment once per process and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class SettingsError(RuntimeError):
    """A required variable is missing or a value is malformed; the message names each one."""


class EnvSettings(BaseModel):
    """Base for a process's settings: field names are the upper-cased variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']).upper()}: "
                + ("is required" if e["type"] == "missing" else e["msg"])
                for e in exc.errors()
            )
            raise SettingsError(f"{cls.__name__} from the environment: {problems}") from None


def comma_list(value: Any) -> Any:
    """``a,b`` from an environment variable becomes ``("a", "b")``."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value
