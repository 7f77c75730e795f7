"""One template snapshot per environment, asset hashes masked so that a source edit (which
changes the Lambda zip or runner image hash) does not churn it.

Rewrite after an intended infrastructure change: ``UPDATE_SNAPSHOTS=1 pytest tests/infra``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

from tests.infra.conftest import Synth

SNAPSHOTS = Path(__file__).parent / "snapshots"
_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def masked(template: dict[str, Any]) -> str:
    return _ASSET_HASH.sub("<asset-hash>", json.dumps(template, indent=1, sort_keys=True)) + "\n"


def test_template_matches_snapshot(synth: Synth) -> None:
    path = SNAPSHOTS / f"{synth.env}.template.json"
    current = masked(synth.template)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(current)
    stored = path.read_text()
    if stored != current:
        diff = "".join(
            difflib.unified_diff(stored.splitlines(True), current.splitlines(True), "snapshot", "synth", n=2)
        )
        raise AssertionError(
            f"{synth.env} template differs from {path.name} (UPDATE_SNAPSHOTS=1 to accept):\n{diff[:6000]}"
        )


def test_masking_hides_only_asset_hashes() -> None:
    template = {"Code": {"S3Key": "a" * 64 + ".zip"}, "Name": "backtest-consumer-dev", "Short": "abc123"}
    text = masked(template)
    assert "<asset-hash>.zip" in text and "backtest-consumer-dev" in text and "abc123" in text
