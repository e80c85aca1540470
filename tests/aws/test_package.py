"""The zip functions' package (src/Makefile, which `sam build` runs): our modules ship with
bytecode that Lambda's read-only /var/task can use as is. No network: the `code` target only."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from cryptosignals.local.template import load_template, template_path

ROOT = template_path().parent
MAKEFILE = ROOT / "src" / "Makefile"


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), *args, f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_zip_function_is_built_by_the_makefile() -> None:
    functions = {
        name: resource
        for name, resource in load_template(template_path())["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and resource["Properties"].get("PackageType") != "Image"
    }
    assert set(functions) == {"IngestFunction", "ProcessFunction"}
    for name, resource in functions.items():
        assert resource.get("Metadata", {}).get("BuildMethod") == "makefile", name
        dry_run = _make("-n", f"build-{name}", "ARTIFACTS_DIR=/nowhere")
        assert dry_run.returncode == 0, dry_run.stderr
        assert "pip install" in dry_run.stdout and "compileall" in dry_run.stdout


def test_the_package_runs_from_its_bytecode_alone(tmp_path: Path) -> None:
    built = _make("code", f"ARTIFACTS_DIR={tmp_path}")
    assert built.returncode == 0, built.stderr
    package = tmp_path / "cryptosignals"
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        data = compiled.read_bytes()
        assert data[:4] == importlib.util.MAGIC_NUMBER, source
        # PEP 552 flags: hash-based, source not checked (a zip's rounded timestamps cannot
        # invalidate it)
        assert int.from_bytes(data[4:8], "little") == 0b01, source
    assert not list(package.rglob("*.nbi")) and not list(package.rglob("*.nbc"))

    # the source of the handler's own module is broken after the build: importing it still
    # works, so the interpreter ran the shipped bytecode and compiled nothing
    handler = package / "handlers" / "process.py"
    handler.write_text("raise SystemExit('the source was compiled, not the shipped bytecode')\n")
    imported = subprocess.run(
        [sys.executable, "-c", "import cryptosignals.handlers.process as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(handler)


def test_building_without_a_target_directory_is_refused() -> None:
    refused = _make("code", "ARTIFACTS_DIR=")
    assert refused.returncode != 0
