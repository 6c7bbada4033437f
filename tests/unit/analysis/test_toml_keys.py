"""Rendered 3FS configuration against upstream's templates: unknown keys and wrong types are named by their
dotted path; arrays of tables are checked element by element; the templates themselves are valid and complete."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from ffinfra.analysis.toml_keys import check_against, flatten, missing_keys

CONFIGS = Path(__file__).resolve().parents[2] / "data" / "3fs-configs"
TEMPLATES = sorted(CONFIGS.glob("*.toml"))

# sha256 of each vendored template, as upstream's commit has it (shared/reference/3fs/SOURCE.md)
PINNED = {
    "mgmtd_main.toml": "63a9c727f8772917a610e308ac1803606fb8b22dd3427f14956f8c9617dae480",
    "mgmtd_main_launcher.toml": "b3c0b5aac3ab208cbebae9dafbe3adbe9046605baca9f06014e9e3d1054e8993",
    "storage_main.toml": "56e9d2353e3935941d3848939538939e8160407954602667652144aefbabc771",
    "meta_main.toml": "ee1a10bfd28557c461f4492f8be8ed877d30347da5812392f49bc674fafc4085",
    "hf3fs_fuse_main.toml": "4399fd49f249a4518f51a8288fd89e9450142ed8ea0d3a3960fee127d05bb67e",
}


def test_the_vendored_templates_are_upstreams_byte_for_byte() -> None:
    assert len(TEMPLATES) == 17
    for name, sha in PINNED.items():
        assert hashlib.sha256((CONFIGS / name).read_bytes()).hexdigest() == sha, name


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_template_parses_and_checks_clean_against_itself(template: Path) -> None:
    text = template.read_text()
    flatten(tomllib.loads(text))  # parses (the FUSE and client agent *_app.toml templates are empty)
    assert check_against(text, text) == []
    assert missing_keys(text, text) == []


def test_an_unknown_key_and_a_wrong_type_are_named_by_path() -> None:
    template = (CONFIGS / "mgmtd_main_launcher.toml").read_text()
    rendered = "cluster_id = 'ff2'\nuse_memkv = 0\n[fdb]\nclusterFile = '/etc/3fs/fdb.cluster'\nclusterfile = 'x'\n"
    assert check_against(rendered, template) == [
        "fdb.clusterfile: unknown key (not in the upstream template)",
        "use_memkv: integer, but the upstream template has a boolean",
    ]


def test_a_launcher_must_set_every_key_of_its_template() -> None:
    template = (CONFIGS / "mgmtd_main_app.toml").read_text()
    assert missing_keys("node_id = 1\n", template) == ["allow_empty_node_id"]
    assert missing_keys("node_id = 1\nallow_empty_node_id = false\n", template) == []


def test_arrays_of_tables_are_checked_element_by_element() -> None:
    template = (CONFIGS / "mgmtd_main.toml").read_text()
    assert "server.base.groups[].io_worker.ibsocket" in flatten(tomllib.loads(template))
    rendered = "[[server.base.groups]]\n[server.base.groups.io_worker.ibsocket]\nsl = 2\nservice_level = 2\n"
    problems = check_against(rendered, template)
    assert problems == [
        "server.base.groups[].io_worker.ibsocket.service_level: unknown key (not in the upstream template)"
    ]
