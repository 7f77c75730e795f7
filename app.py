#!/usr/bin/env python3
"""CDK entry point: ``cdk synth -c env=dev|staging|prod`` (default dev).

Reads the environment's block of cdk.json context into one typed Settings object, builds the
pipeline stack and applies the cdk-nag AwsSolutions checks (a finding is a synth error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.pipeline_stack import PipelineStack
from stacks.settings import SettingsError, load_settings

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The context the CDK CLI would pass from cdk.json (for synths outside the CLI: tests, bench)."""
    config = json.loads(CDK_JSON.read_text())
    context = dict(config["context"])
    if config.get("versionReporting") is False:
        context["aws:cdk:version-reporting"] = False
    return context


def build_app(
    env: str | None = None,
    *,
    outdir: str | None = None,
    context: dict[str, Any] | None = None,
) -> cdk.App:
    """The app for one environment. The CDK CLI passes cdk.json context itself; tests pass it here."""
    app = cdk.App(outdir=outdir, context=context)
    env_name = env or app.node.try_get_context("env") or "dev"
    environments = app.node.try_get_context("environments")
    settings = load_settings({"environments": environments}, env_name)
    PipelineStack(app, settings)
    add_checks(app)
    return app


def add_checks(app: cdk.App) -> None:
    """cdk-nag AwsSolutions on every stack: an unacknowledged finding fails synth."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


if __name__ == "__main__":
    try:
        build_app().synth()
    except SettingsError as error:  # a wrong -c env or cdk.json value: one line, not a traceback
        raise SystemExit(f"error: {error}") from None
