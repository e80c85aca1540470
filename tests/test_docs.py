"""Docs that cannot rot: the README's Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README should show the Python API"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_quick_start_is_exactly_two_commands() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def _shell_lines(doc: Path) -> list[str]:
    """The lines of a Markdown file's bash (or unlabelled) code blocks, continuations joined."""
    lines, fence = [], None
    for line in doc.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
        elif fence in ("", "bash", "sh"):
            lines.append(line)
    return lines


def _documented_commands() -> dict[tuple[str, ...], set[str]]:
    """Every `cryptosignals ...` command of the README's and docs' shell blocks: its words
    (subcommands, maybe followed by positional arguments) -> the options used with it."""
    found: dict[tuple[str, ...], set[str]] = {}
    for doc in [README, *sorted((README.parent / "docs").glob("*.md"))]:
        for line in _shell_lines(doc):
            match = re.search(r"\bcryptosignals((?: [a-z][a-z-]*)+)(.*)", line.split(" # ")[0])
            if match:
                words = tuple(match.group(1).split())
                options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", match.group(2)))
                found.setdefault(words, set()).update(options)
    return found


@pytest.mark.slow
def test_every_documented_command_and_option_exists() -> None:
    documented = _documented_commands()
    assert ("local", "up") in documented and ("backtest",) in documented
    for words, options in sorted(documented.items()):
        while True:  # positional arguments (coin ids) are not subcommands: drop them
            result = subprocess.run(
                [sys.executable, "-m", "cryptosignals", *words, "--help"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if result.returncode == 0 or len(words) == 1:
                break
            words = words[:-1]
        assert result.returncode == 0, (words, result.stderr)
        missing = sorted(o for o in options if o not in result.stdout)
        assert not missing, f"cryptosignals {' '.join(words)} has no {missing}"
