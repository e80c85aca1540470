"""Benchmark: the training image's Python layer built without Docker, and one invocation of it.

Run from the repository root (nice it: the install takes a few minutes the first time, a coin of
120 days of 5-minute history about a minute):

    nice .venv/bin/python benchmarks/train_image.py                       # bitcoin, shared data
    nice .venv/bin/python benchmarks/train_image.py --coins ethereum --json /tmp/train_image.json
    .venv/bin/python benchmarks/train_image.py --quick --python .venv/bin/python --no-install

The training function is an image (template.yaml: TrainFunction, PackageType Image) that this
machine cannot build (no Docker daemon, no access to the base image). This builds its Python
layer instead and runs it the way the image would:

1. reads images/train/Dockerfile and checks it has the expected shape: FROM AWS's Lambda Python
   base image, the COPY of pyproject.toml, README.md and src to the build folder, one
   `pip install "<build>[extras]"`, and CMD [handler]; anything else is a one-line error;
2. installs exactly that pip spec, plus awslambdaric and boto3 (the base image has those two),
   with `pip install --target` into a folder, on a Python of the base image's version
   (--python; default a python<version> on PATH or pyenv's), from a copy of what the
   Dockerfile copies;
3. reports the layer's size and the largest packages in it, and the handler's import time in
   a fresh interpreter (the first import, then the median of three more);
4. starts a LocalStack (moto on 127.0.0.1, template.yaml deployed), uploads the coin's history
   with the `cryptosignals upload-history` command (as the training tests do) and invokes the
   training function once for that coin with the image's handler in a process of its own:
   `python -m awslambdaric <CMD>` against a local Lambda Runtime API
   (cryptosignals.local.runtime_api), reading the emulator's S3 over HTTP; reports its
   duration, init duration, peak resident memory and the result (verdict, report and artifact
   keys).

--no-install uses the interpreter's own packages (no layer, no size): with --python
.venv/bin/python it is a quick check of steps 1 and 4. --quick: the bundled three-week sample
when --data has none, 300 bootstrap resamples.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from _data import ROOT, add_data_options, coin_files

if TYPE_CHECKING:  # imported where used: --check-only needs neither boto3 nor moto
    from cryptosignals.local.runtime_api import ImageInvocation, Interpreter
    from cryptosignals.local.stack import LocalStack

DOCKERFILE = ROOT / "images" / "train" / "Dockerfile"
DEFAULT_LAYER = ROOT / "benchmarks" / "out" / "train-image" / "layer"
#: What AWS's Python base image has besides the interpreter (the Dockerfile does not install
#: them): the runtime interface client and boto3.
BASE_IMAGE_PACKAGES = ("awslambdaric", "boto3")
_BASE_IMAGES = ("amazon/aws-lambda-python", "public.ecr.aws/lambda/python")
_RUN = "2026-12-01T03:00:00Z"

console = Console(stderr=True)


@dataclass(frozen=True)
class ImageRecipe:
    """What the Dockerfile says: the base's Python version, what it copies, the pip spec."""

    python_version: str  # "3.12"
    copies: tuple[str, ...]  # repository paths copied into the build folder
    build_folder: str  # "/tmp/build"
    extras: str  # "aws,models"
    command: tuple[str, ...]  # CMD: the handler


def read_dockerfile(path: Path = DOCKERFILE) -> ImageRecipe:
    """The recipe of images/train/Dockerfile; SystemExit with one line if it is not the shape
    this benchmark can build without Docker."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]

    def fail(why: str) -> SystemExit:
        return SystemExit(f"{path}: {why}; this benchmark cannot build it")

    bases = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    if len(bases) != 1:
        raise fail(f"expected one FROM line, found {len(bases)}")
    image, _, tag = bases[0].partition(":")
    version = re.match(r"^(3\.\d+)", tag)
    if image not in _BASE_IMAGES or not version:
        raise fail(f"FROM {bases[0]} is not AWS's Lambda Python base image (python:3.x)")
    runs = [line for line in lines if line.upper().startswith("RUN ")]
    pips = [re.search(r'pip install (?:--no-cache-dir )?"([^"\[]+)\[([a-z,]+)\]"', r) for r in runs]
    if len(runs) != 1 or pips[0] is None:
        raise fail('expected one RUN pip install "<build folder>[extras]"')
    build, extras = pips[0].group(1).rstrip("/"), pips[0].group(2)
    copies: list[str] = []
    for line in lines:
        if line.upper().startswith("COPY "):
            *sources, target = line.split()[1:]
            if not target.rstrip("/").startswith(build):
                raise fail(f"{line!r} copies outside {build}")
            copies += sources
    if "pyproject.toml" not in copies or "src" not in copies:
        raise fail(f"expected pyproject.toml and src copied into {build}")
    cmds = [line for line in lines if line.upper().startswith("CMD ")]
    try:
        command = json.loads(cmds[0][4:]) if len(cmds) == 1 else None
    except ValueError:
        command = None
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise fail('expected one CMD ["package.module.handler"]')
    return ImageRecipe(version.group(1), tuple(copies), build, extras, tuple(command))


def find_python(version: str) -> str:
    """pyenv's newest <version>.x, else a python<version> on PATH that runs (a pyenv shim
    without a selected version does not)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [
        str(c / "bin" / f"python{version}")
        for c in sorted(pyenv.glob(f"{version}.*"), reverse=True)
    ]
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and python_version(candidate) == version:
            return candidate
    raise SystemExit(f"no Python {version} found (the base image's): pass --python")


def python_version(python: str) -> str:
    """ "3.12" for a Python 3.12 interpreter ("" if it does not run)."""
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip() if out.returncode == 0 else ""


def install_layer(recipe: ImageRecipe, python: str, layer: Path) -> float:
    """`pip install --target layer` of the Dockerfile's spec (from a copy of what it copies)
    plus the base image's packages; the seconds it took."""
    if layer.exists():
        shutil.rmtree(layer)
    layer.mkdir(parents=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="train-image-build-") as build:
        for source in recipe.copies:
            origin = ROOT / source
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
                shutil.copytree(origin, Path(build) / source, ignore=ignore)
            else:
                shutil.copy(origin, Path(build) / source)
        command = [
            python, "-m", "pip", "install", "--no-cache-dir", "--quiet", "--target", str(layer),
            f"{build}[{recipe.extras}]", *BASE_IMAGE_PACKAGES,
        ]  # fmt: skip
        with console.status(
            f"pip install {recipe.build_folder}[{recipe.extras}] + awslambdaric, boto3"
        ):
            result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"pip install failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def layer_sizes(layer: Path) -> tuple[float, list[tuple[str, float]]]:
    """The layer's MB, and each top-level package's (largest first; metadata folders left
    out of the list, counted in the total)."""
    parts = [
        (p.name, folder_mb(p) if p.is_dir() else p.stat().st_size / 1e6)
        for p in layer.iterdir()
        if not p.name.endswith((".dist-info", ".egg-info")) and p.name != "__pycache__"
    ]
    return folder_mb(layer), sorted(parts, key=lambda item: -item[1])


def import_seconds(interpreter: Interpreter, module: str, repeats: int = 4) -> list[float]:
    """The handler module's import time in fresh interpreters (the first, then the others)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(interpreter.path)}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "MODELS_BUCKET": "unused"})
    times = []
    for _ in range(repeats):
        result = subprocess.run(
            [interpreter.python, "-c", code], capture_output=True, text=True, env=env,
            cwd=tempfile.gettempdir(),
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"importing {module} failed:\n{result.stderr[-2000:]}")
        times.append(float(result.stdout.strip().splitlines()[-1]))
    return times


def upload_history(stack: LocalStack, history: Path, coin: str) -> None:
    """`cryptosignals upload-history`, the real command, pointed at the emulator."""
    with tempfile.TemporaryDirectory() as folder:
        name = Path(folder) / f"{coin}_5m.csv{'.gz' if history.suffix == '.gz' else ''}"
        shutil.copy(history, name)
        result = subprocess.run(
            [sys.executable, "-m", "cryptosignals", "upload-history",
             "--bucket", stack.names["models_bucket"], "--input", str(name)],
            capture_output=True, text=True, timeout=300, env={**os.environ, **stack.environment()},
        )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"upload-history failed: {result.stderr.strip()[-500:]}")


def jobs_of(result: Any, coin: str) -> dict[str, dict[str, Any]]:
    """The handler's result for `coin`, job by job ({"p_up": {verdict, earned, report,
    artifact, ...}, ...}; a result of one job per coin is the "p_up" job)."""
    entry = result["coins"][coin]
    return {"p_up": entry} if "report" in entry else dict(entry)


def invoke_training(
    interpreter: Interpreter, coin: str, history: Path, resamples: int
) -> tuple[ImageInvocation, dict[str, dict[str, Any]]]:
    """One invocation of the deployed training function for `coin`, in its own process, and
    the report of each of its jobs."""
    from cryptosignals.local.runtime_api import ImageInvocation
    from cryptosignals.local.stack import LocalStack

    with console.status("starting the local stack (moto, template.yaml deployed)"):
        stack = LocalStack.start(parameters={"TrackedCoins": coin})
    try:
        with console.status(f"uploading {coin}'s history ({history.name})"):
            upload_history(stack, history, coin)
        stack.runtime.image_interpreter = interpreter
        event = {"coins": [coin], "run": _RUN, "resamples": resamples}
        with console.status(f"training {coin} in the image's runtime (python -m awslambdaric)"):
            invocation = stack.runtime.invoke(stack.names["train_function"], event)
        if not isinstance(invocation, ImageInvocation):
            raise SystemExit("the training function did not run as an image")
        if invocation.failed:
            tail = "\n".join(invocation.log_lines[-15:])
            raise SystemExit(
                f"training failed: {invocation.error_type}: {invocation.error_message}\n{tail}"
            )
        s3, bucket = stack.client("s3"), stack.names["models_bucket"]
        reports = {
            job: json.loads(s3.get_object(Bucket=bucket, Key=keys["report"])["Body"].read())
            for job, keys in jobs_of(invocation.result, coin).items()
        }
        return invocation, reports
    finally:
        stack.stop()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument(
        "--python", help="the interpreter (default: one of the base image's version)"
    )
    parser.add_argument("--layer", type=Path, default=DEFAULT_LAYER, help="install folder")
    parser.add_argument("--reuse-layer", action="store_true", help="keep an installed --layer")
    parser.add_argument(
        "--no-install", action="store_true", help="no layer: the interpreter's own packages"
    )
    parser.add_argument("--quick", action="store_true", help="300 bootstrap resamples")
    parser.add_argument("--dockerfile", type=Path, default=DOCKERFILE, help=argparse.SUPPRESS)
    parser.add_argument(
        "--check-only", action="store_true", help="check the Dockerfile's shape, then stop"
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    recipe = read_dockerfile(args.dockerfile)
    print(
        f"Dockerfile: FROM Lambda python:{recipe.python_version}, pip install "
        f"{recipe.build_folder}[{recipe.extras}], CMD {list(recipe.command)}"
    )
    if args.check_only:
        return
    if args.coins is None:
        args.coins = "bitcoin"
    files, source = coin_files(args)
    coin, history = next(iter(files.items()))
    python = args.python or find_python(recipe.python_version)
    if os.sep in python:  # absolute, not resolved: a venv's python is a symlink out of it
        python = str(Path(python).absolute())
    version = python_version(python)
    if version != recipe.python_version:
        print(f"note: {python} is Python {version}, the image's is {recipe.python_version}")
    figures: dict[str, Any] = {
        "python": python, "python_version": version, "image_python": recipe.python_version,
        "extras": recipe.extras, "command": list(recipe.command), "coin": coin,
    }  # fmt: skip

    from cryptosignals.local.runtime_api import Interpreter

    if args.no_install:
        interpreter = Interpreter(python)
        figures["layer"] = None
    else:
        layer = args.layer.resolve()
        if args.reuse_layer and (layer / "cryptosignals").is_dir():
            print(f"layer: reusing {layer}")
        else:
            seconds = install_layer(recipe, python, layer)
            figures["install_seconds"] = round(seconds, 1)
            print(f"layer: installed in {seconds:.0f} s into {layer}")
        total, parts = layer_sizes(layer)
        base = sum(
            mb for name, mb in parts if name in ("boto3", "botocore", "s3transfer", "awslambdaric")
        )
        figures["layer"] = {
            "path": str(layer), "mb": round(total, 1), "base_image_packages_mb": round(base, 1),
            "largest": [{"package": n, "mb": round(mb, 1)} for n, mb in parts[:8]],
        }  # fmt: skip
        print(
            f"layer size: {total:.0f} MB (of which boto3, botocore, s3transfer, awslambdaric "
            f"{base:.0f} MB, in the base image already)"
        )
        print("  largest: " + ", ".join(f"{n} {mb:.0f} MB" for n, mb in parts[:8]))
        interpreter = Interpreter(python, (str(layer),))

    module = recipe.command[0].rpartition(".")[0]
    with console.status(f"timing `import {module}`"):
        times = import_seconds(interpreter, module)
    figures["import_seconds"] = {
        "first": round(times[0], 3),
        "median": round(statistics.median(times[1:]), 3),
    }
    print(
        f"import {module}: {times[0]:.2f} s the first time, "
        f"{statistics.median(times[1:]):.2f} s after (median of {len(times) - 1})"
    )

    print(source)
    resamples = 300 if args.quick else 1000
    invocation, reports = invoke_training(interpreter, coin, history, resamples)
    jobs = jobs_of(invocation.result, coin)
    bars = next((r["history"]["bars"] for r in reports.values() if "history" in r), None)
    figures["invocation"] = {
        "duration_s": round(invocation.duration_ms / 1000, 2),
        "init_duration_s": round((invocation.init_duration_ms or 0) / 1000, 2),
        "max_memory_mb": round(invocation.max_memory_mb or 0, 1),
        "resamples": resamples, "bars": bars,
        "jobs": {
            job: {"verdict": keys["verdict"], "earned": keys["earned"],
                  "report_key": keys["report"], "artifact_key": keys["artifact"]}
            for job, keys in jobs.items()
        },
    }  # fmt: skip
    print(invocation.log_lines[-1].replace("\t", "  "))
    print(
        f"training {coin} ({bars} bars, {resamples} "
        f"resamples) in the image's runtime: {invocation.duration_ms / 1000:.1f} s, init "
        f"{(invocation.init_duration_ms or 0) / 1000:.2f} s, peak RSS "
        f"{invocation.max_memory_mb or 0:.0f} MB"
    )
    for job, keys in jobs.items():
        print(
            f"  {job}: {keys['verdict']} (earned: {keys['earned']}); report {keys['report']}, "
            f"artifact {keys['artifact']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
