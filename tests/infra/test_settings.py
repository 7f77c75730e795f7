"""Settings from cdk.json: every environment validates; bad values are named; names are derived."""

from __future__ import annotations

import pytest

import app as cdk_app
from stacks.bundling import requirements_hash
from stacks.settings import SettingsError, load_settings


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_environment_in_cdk_json_validates(env: str) -> None:
    settings = load_settings(cdk_app.cdk_json_context(), env)
    assert settings.env == env
    assert settings.queue_visibility_seconds >= 6 * settings.consumer_timeout_seconds
    assert settings.consumer_memory_mb == 256 and settings.consumer_timeout_seconds == 300


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(SettingsError, match=r"'qa' is not in cdk.json.*dev, prod, staging"):
        load_settings(cdk_app.cdk_json_context(), "qa")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"task_cpu": 1024, "task_memory_mib": 512}, "task_memory_mib 512 is not valid for task_cpu 1024"),
        ({"log_retention_days": 10}, "log_retention_days: Value error, must be one of"),
        ({"max_receive_count": 2}, "max_receive_count"),
        ({"consumer_timeout_seconds": 1000}, "consumer_timeout_seconds"),
        ({"network": {"vpc_id": "vpc-0abc"}}, "needs account and region"),
        ({"network": {"max_azs": 3}}, "max_azs > 2 needs account and region"),
        ({"alarms": {"email": "not-an-address"}}, "alarms.email"),
        ({"max_concurent_tasks": 3}, "max_concurent_tasks: Extra inputs are not permitted"),
    ],
)
def test_invalid_values_are_named(values: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"environments": {"dev": values}}, "dev")


def test_names_derive_from_the_environment() -> None:
    names = load_settings({"environments": {"qa": {}}}, "qa").names
    assert names.consumer_function == "backtest-consumer-qa"
    assert names.queue == "backtest-requests-qa" and names.dead_letter_queue == "backtest-requests-dlq-qa"
    assert names.stack == "backtest-pipeline-qa"


def test_dependency_cache_key_follows_the_requirements(tmp_path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("pydantic==2.14.3\n")
    b.write_text("pydantic==2.14.2\n")
    assert requirements_hash(a) != requirements_hash(b)
    assert requirements_hash(a) == requirements_hash(a)
