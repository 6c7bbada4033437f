"""The README is what a newcomer reads first: it starts with the two commands (CI runs the second), stays short, and
points into docs/ for the rest."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
MAX_BYTES = 15_000


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = README.read_text().splitlines()
    assert lines[0].startswith("# "), "the README opens with its title"
    first = next(line for line in lines[1:] if line.strip())
    assert first == "```sh", "the first thing after the title is the two commands, in a ```sh block"
    start = lines.index("```sh")
    block = lines[start + 1 : lines.index("```", start)]
    assert len(block) == 2
    test_cmd = block[1].split("#")[0].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci


def test_readme_is_under_15_kb():
    size = len(README.read_bytes())
    assert size < MAX_BYTES, (
        f"README.md is {size} bytes; keep it under {MAX_BYTES}: move detail into a page under docs/ and link it"
    )


def test_readme_keeps_the_newcomer_sections():
    headings = {line[3:].strip() for line in README.read_text().splitlines() if line.startswith("## ")}
    assert {"Commands", "Safety", "Exit codes", "Layout", "Documentation"} <= headings


def test_every_command_is_in_the_readme_table():
    from typer.main import get_command

    from ffinfra.cli.app import app

    table = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `ffinfra ([a-z-]+)", table, flags=re.M))
    assert rows == set(get_command(app).commands), "the README's command table lists every command, and only those"


def test_every_docs_page_is_listed_in_the_index():
    index = (ROOT / "docs" / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
