"""cdk-nag and cfn-lint on every environment's template."""

from __future__ import annotations

import json
import os

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cfnlint.api import ManualArgs, lint

import app as cdk_app
from tests.infra.conftest import Synth


def test_cdk_nag_ran_and_found_nothing_unacknowledged(synth: Synth) -> None:
    # build_app registers the AwsSolutions plugin; synth would have raised on any finding. The
    # report exists only when a validation plugin ran.
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success" or r.get("violations")]
    assert failures == []


def test_every_acknowledgment_has_a_reason(synth: Synth) -> None:
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = 0
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule, reason in dict(entry.data).items():  # {"<plugin>::<rule>": reason}
                    if "AwsSolutions-" in rule:
                        found += 1
                        assert len(str(reason).strip()) >= 20, rule
    assert found > 0


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding(tmp_path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    sqs.Queue(stack, "PlainQueue")  # no DLQ, no TLS enforcement
    cdk_app.add_checks(app)
    with pytest.raises(Exception, match=r"[Vv]alidation"):
        app.synth()


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    matches = lint(json.dumps(synth.template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    errors = [f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


@pytest.mark.skipif(os.name == "nt", reason="ELF check is platform-agnostic but paths differ")
def test_lambda_asset_bundles_pydantic_core_for_the_lambda_platform(dev: Synth) -> None:
    code = dev.one("AWS::Lambda::Function", FunctionName=dev.settings.names.consumer_function)[1]["Properties"]["Code"]
    asset_hash = code["S3Key"].removesuffix(".zip")
    asset = dev.outdir / f"asset.{asset_hash}"
    assert asset.is_dir(), f"no staged asset {asset.name}"
    so = asset / "pydantic_core" / "_pydantic_core.cpython-311-x86_64-linux-gnu.so"
    assert so.is_file(), sorted(p.name for p in (asset / "pydantic_core").iterdir())
    header = so.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"  # Linux shared object
    assert header[4] == 2  # 64-bit
    assert int.from_bytes(header[18:20], "little") == 0x3E  # e_machine = x86-64
    # the project's own packages and the runtime deps are at the root of the zip
    for module in ("backtest_consumer/handler.py", "backtest_core/__init__.py", "aws_lambda_powertools", "pydantic"):
        assert (asset / module).exists(), module
    assert not list(asset.rglob("__pycache__"))
