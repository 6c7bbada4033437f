"""Shared fixtures: the shipped stacks, and writing a spec (text or dict) into a temporary stack folder.

Kept small on purpose; test-specific helpers live next to their tests. The helpers are handed out as fixtures
(not imported from here) so that several conftest.py files can coexist.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ffinfra.compile import Compiled, compile_stack
from ffinfra.errors import SpecInvalid
from ffinfra.spec.findings import Finding, Severity
from ffinfra.spec.load import SpecSyntaxError
from ffinfra.stack import StackRef, find_stack

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"


def _stack_text(name: str) -> str:
    """The cluster.yaml of a shipped stack, as text."""
    return (STACKS / name / "cluster.yaml").read_text(encoding="utf-8")


def _write_stack(folder: Path, spec: str | dict[str, Any], files: dict[str, str] | None = None) -> StackRef:
    """Write `spec` (YAML text, or a dict to dump) as folder/cluster.yaml plus any side files; return its StackRef."""
    folder.mkdir(parents=True, exist_ok=True)
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
    (folder / "cluster.yaml").write_text(text, encoding="utf-8")
    for name, content in (files or {}).items():
        (folder / name).write_text(content, encoding="utf-8")
    return find_stack(str(folder / "cluster.yaml"))


def _findings_of(ref: StackRef, **compile_kw: Any) -> list[Finding]:
    """Every finding compiling `ref` reports, blocking or not; a YAML syntax error becomes an FF-YAML-001 finding."""
    try:
        return compile_stack(ref, **compile_kw).findings
    except SpecInvalid as exc:
        return exc.findings
    except SpecSyntaxError as exc:
        return [Finding("FF-YAML-001", Severity.ERROR, (), str(exc), location=exc.location)]


@pytest.fixture(scope="session")
def stack_text() -> Callable[[str], str]:
    """stack_text('lab') → the text of stacks/lab/cluster.yaml."""
    return _stack_text


@pytest.fixture(scope="session")
def write_stack() -> Callable[..., StackRef]:
    """write_stack(folder, spec, files=None) → StackRef; session-scoped, so usable from hypothesis tests."""
    return _write_stack


@pytest.fixture(scope="session")
def findings_of() -> Callable[..., list[Finding]]:
    """findings_of(ref, suppress=..., strict=...) → every finding, blocking or not (FF-YAML-001 included)."""
    return _findings_of


@pytest.fixture(scope="session")
def compiled_stack() -> Callable[[str], Compiled]:
    """compiled_stack('ff2') → the compiled shipped stack, compiled once per session (do not mutate it)."""
    cache: dict[str, Compiled] = {}

    def get(name: str) -> Compiled:
        if name not in cache:
            cache[name] = compile_stack(find_stack(str(STACKS / name)))
        return cache[name]

    return get


@pytest.fixture
def lab_dict() -> dict[str, Any]:
    """A fresh, mutable copy of stacks/lab/cluster.yaml as plain data."""
    return yaml.safe_load(_stack_text("lab"))


@pytest.fixture
def make_stack(tmp_path: Path) -> Callable[..., StackRef]:
    """make_stack(spec, files=None, name='stack') → StackRef of a stack written under tmp_path."""

    def make(spec: str | dict[str, Any], files: dict[str, str] | None = None, name: str = "stack") -> StackRef:
        return _write_stack(tmp_path / name, spec, files)

    return make


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """cli("validate", "lab") → (exit code, stdout, stderr) of `ffinfra ...`, run through main(), the error boundary."""
    import sys

    from ffinfra.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["ffinfra", *args])
        with pytest.raises(SystemExit) as exc:
            main()
        out, err = capsys.readouterr()
        return int(exc.value.code or 0), out, err

    return run


# -- no silent skips where everything is installed --------------------------------------------------------------
# Tests skip, with a reason, when a tool or root is missing on a developer's machine. scripts/test.sh run as root
# (CI) installs every tool first and sets FFINFRA_NO_SKIPS=1: there a skip means the set-up is broken, so it fails
# the run instead of letting a suite quietly not run. Tests marked `hardware` (GPUs) are the exception: no set-up
# can install the device, so they skip with their reason (pytest -ra lists it) wherever it is missing.
_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and "hardware" not in report.keywords:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("FFINFRA_NO_SKIPS") == "1" and _SKIPPED:
        print(f"\nFFINFRA_NO_SKIPS=1 but {len(_SKIPPED)} test(s) were skipped (is the set-up complete?):")
        for nodeid in _SKIPPED[:20]:
            print(f"  skipped: {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
