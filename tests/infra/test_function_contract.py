"""The environment each Lambda gets matches the settings class its code reads at cold start.

The settings classes live in lambda_src/ (their code validates the variables by name); this
test reads their fields, so a variable added there or renamed here fails the build, not a
cold start after deploy.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from backtest_core.settings import ConsumerSettings, LifecycleSettings
from reconciler.settings import ReconcilerSettings
from tests.infra.conftest import Synth

FUNCTIONS = {
    "consumer_function": ConsumerSettings,
    "task_events_function": LifecycleSettings,
    "reconciler_function": ReconcilerSettings,
}


def _environment(synth: Synth, attribute: str) -> dict:
    name = getattr(synth.settings.names, attribute)
    return synth.one("AWS::Lambda::Function", FunctionName=name)[1]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("attribute", list(FUNCTIONS))
def test_every_required_setting_is_wired_and_every_variable_is_read(synth: Synth, attribute: str) -> None:
    model: type[BaseModel] = FUNCTIONS[attribute]
    env = _environment(synth, attribute)
    fields = {name.upper() for name in model.model_fields}
    required = {name.upper() for name, field in model.model_fields.items() if field.is_required()}
    assert required <= set(env), f"missing: {sorted(required - set(env))}"
    assert set(env) <= fields, f"not read by {model.__name__}: {sorted(set(env) - fields)}"


@pytest.mark.parametrize("attribute", list(FUNCTIONS))
def test_literal_values_validate(synth: Synth, attribute: str) -> None:
    """The values known at synth (numbers, flags, names) pass the function's own validation."""
    model: type[BaseModel] = FUNCTIONS[attribute]
    env = _environment(synth, attribute)
    values = {k.lower(): (v if isinstance(v, str) else "token") for k, v in env.items()}
    model.model_validate(values)


def test_no_function_adds_a_service_metric_dimension(synth: Synth) -> None:
    # Powertools adds a `service` dimension to every metric when POWERTOOLS_SERVICE_NAME is set,
    # and the alarms select metrics by Environment (and Reason) only.
    for attribute in FUNCTIONS:
        assert "POWERTOOLS_SERVICE_NAME" not in _environment(synth, attribute)
