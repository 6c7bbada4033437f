"""The README tells the truth: its generated blocks match the code, and it starts with the two commands."""

from __future__ import annotations

from pathlib import Path

from ffinfra.docs.spec_reference import splice

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_spec_reference_and_codes_are_current():
    text = README.read_text()
    assert splice(text) == text, (
        "README is stale: run .venv/bin/python -m ffinfra.docs.spec_reference --write README.md"
    )


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```", lines.index("```sh"))]
    assert len(block) == 2
    test_cmd = block[1].split("#")[0].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_cmd in ci
