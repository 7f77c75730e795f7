"""The Lambda code asset: every package of lambda_src/ plus its runtime dependencies, built for
the Lambda platform (manylinux2014 x86_64, CPython 3.11) with pip on this machine: no Docker.

pip downloads wheels for the *target* platform (``--platform ... --only-binary=:all:``), so the
result is the same on macOS, Linux or Windows. The installed dependencies are cached under
``build/lambda-deps/<hash>/`` keyed by the requirements file and the platform arguments, so only
the first synth after a requirements change pays for the download.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"
CACHE_ROOT = REPO_ROOT / "build" / "lambda-deps"

PLATFORM_ARGS = (
    "--platform", "manylinux2014_x86_64",
    "--only-binary=:all:",
    "--python-version", "3.11",
    "--implementation", "cp",
)  # fmt: skip
# Never shipped in the asset (tests, caches, packaging metadata that only bloats the zip).
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache", ".mypy_cache")


def requirements_hash(requirements: Path) -> str:
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(" ".join(PLATFORM_ARGS).encode())
    return digest.hexdigest()[:16]


def install_dependencies(requirements: Path, cache_root: Path = CACHE_ROOT) -> Path:
    """The directory holding ``requirements`` installed for Lambda; built once per hash."""
    target = cache_root / requirements_hash(requirements)
    if (target / ".complete").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="deps-", dir=cache_root))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        *PLATFORM_ARGS, "--target", str(staging), "-r", str(requirements),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True)
        (staging / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def lambda_packages(source: Path) -> list[Path]:
    """The Python packages of lambda_src/ (directories with an ``__init__.py``)."""
    return sorted(p for p in source.iterdir() if p.is_dir() and (p / "__init__.py").exists())


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """CDK local bundling: dependencies from the cache, then the project's own packages."""

    def __init__(self, source: Path = LAMBDA_SRC, cache_root: Path = CACHE_ROOT) -> None:
        self._source = source
        self._cache_root = cache_root

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        out = Path(output_dir)
        deps = install_dependencies(self._source / "requirements.txt", self._cache_root)
        shutil.copytree(deps, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete", "__pycache__"))
        for package in lambda_packages(self._source):
            shutil.copytree(package, out / package.name, dirs_exist_ok=True, ignore=_SKIP)
        return True


def lambda_code(source: Path = LAMBDA_SRC) -> lambda_.Code:
    """One asset for every function. Its hash is the source hash of lambda_src/ (requirements
    included), so an unchanged tree is not re-uploaded."""
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.SOURCE,
        exclude=["**/__pycache__", "**/*.pyc", "**/tests"],
        bundling=BundlingOptions(
            # Only used if local bundling declined, which it never does; kept because CDK requires an image.
            image=lambda_.Runtime.PYTHON_3_11.bundling_image,
            local=PipLocalBundling(source),
            command=["bash", "-c", "echo 'local bundling is expected (no Docker)' && exit 1"],
        ),
    )
