"""One synthesized template per environment, shared by every infra test (synth costs seconds).

Each environment is synthesized once per session, through app.build_app (the CDK CLI's code
path, cdk-nag included), into a temporary cloud assembly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import app as cdk_app
from stacks.pipeline_stack import PipelineStack
from stacks.settings import Settings

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass
class Synth:
    env: str
    settings: Settings
    stack: PipelineStack
    outdir: Path
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def one(self, cfn_type: str, **match: Any) -> tuple[str, dict[str, Any]]:
        """The single resource of a type whose properties include ``match``."""
        found = [
            (k, v)
            for k, v in self.of_type(cfn_type).items()
            if all(v.get("Properties", {}).get(p) == want for p, want in match.items())
        ]
        assert len(found) == 1, f"expected one {cfn_type} with {match}, found {[k for k, _ in found]}"
        return found[0]

    def logical_id(self, construct: Any) -> str:
        return self.stack.resolve(self.stack.get_logical_id(construct.node.default_child))


def _synth(env: str, outdir: Path) -> Synth:
    app = cdk_app.build_app(env, outdir=str(outdir), context=cdk_app.cdk_json_context())
    assembly = app.synth()
    stack = next(c for c in app.node.children if isinstance(c, PipelineStack))
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(env=env, settings=stack.settings, stack=stack, outdir=outdir, template=template)


_CACHE: dict[str, Synth] = {}


def synthesized(env: str, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    if env not in _CACHE:
        _CACHE[env] = _synth(env, tmp_path_factory.mktemp(f"cdk-{env}"))
    return _CACHE[env]


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def synth(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every environment in turn; each is synthesized once per session."""
    return synthesized(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesized("dev", tmp_path_factory)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesized("prod", tmp_path_factory)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
