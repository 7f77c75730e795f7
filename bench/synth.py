"""Synth wall time per environment, through the pinned CDK CLI (what `make synth` runs).

For each environment: `cdk synth -c env=<env> --quiet` into a fresh output directory, ROUNDS
times, with the Lambda dependency cache (build/lambda-deps/) warm; plus the one-off cost of
filling that cache (pip installing lambda_src/requirements.txt for the Lambda platform into an
empty cache directory; pip's own download cache may be warm). Writes the "synth" section of
BENCHMARKS.md.

    .venv/bin/python bench/synth.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import write_section  # noqa: E402

from stacks.bundling import LAMBDA_SRC, install_dependencies  # noqa: E402

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
ENVIRONMENTS = ("dev", "staging", "prod")


def synth_once(env: str) -> float:
    with tempfile.TemporaryDirectory(prefix=f"synth-{env}-") as outdir:
        started = time.perf_counter()
        subprocess.run(
            [str(CDK), "synth", "-c", f"env={env}", "--quiet", "-o", outdir],
            cwd=REPO_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1"},
        )
        return time.perf_counter() - started


def dependency_install_once() -> float:
    with tempfile.TemporaryDirectory(prefix="lambda-deps-") as cache:
        started = time.perf_counter()
        install_dependencies(LAMBDA_SRC / "requirements.txt", Path(cache))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    install_dependencies(LAMBDA_SRC / "requirements.txt")  # warm the real cache first
    results = {}
    for env in ENVIRONMENTS:
        results[env] = [synth_once(env) for _ in range(args.rounds)]
        print(f"{env}: " + ", ".join(f"{t:.2f}" for t in results[env]), flush=True)
    cold = dependency_install_once()
    print(f"dependency cache fill: {cold:.2f}", flush=True)

    rows = "\n".join(
        f"| {env} | {statistics.median(times):.1f} | {', '.join(f'{t:.1f}' for t in times)} |"
        for env, times in results.items()
    )
    cli = subprocess.run([str(CDK), "--version"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.split()[0]
    body = f"""## Synth (bench/synth.py)

`cdk synth -c env=<env> --quiet` with the pinned CDK CLI ({cli}), cdk-nag included, no Docker,
Lambda dependency cache warm; {os.cpu_count()} cores (shared with other work: the spread is noise),
Python {platform.python_version()}; {args.rounds} rounds each.

| environment | median wall time (s) | all rounds (s) |
|---|---|---|
{rows}

Filling the Lambda dependency cache (pip install of lambda_src/requirements.txt for
manylinux2014_x86_64 / cp311 into an empty build/lambda-deps/<hash>/) adds {cold:.1f} s once per
requirements change (pip's own download cache was warm)."""
    write_section("synth", body)


if __name__ == "__main__":
    main()
