"""Where ffinfra's own non-Python files are: the Ansible roles and playbooks, the Jinja2 templates of rendered
artifacts, the stacks that ship with it (the embedded `lab` default) and the source of HFReduce, which the
hfreduce role builds on the nodes.

In a checkout they are the top-level folders roles/, playbooks/, templates/, stacks/ and hfreduce/ (where users
expect them). A wheel carries copies under ffinfra/_assets/ (setup.py copies them at build time), so an installed
ffinfra works from any folder. The copy wins when present; FFINFRA_TEMPLATES still overrides the templates.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
BUNDLED = _PACKAGE / "_assets"
CHECKOUT = _PACKAGE.parent
KINDS = ("roles", "playbooks", "templates", "stacks", "hfreduce")


def asset_dir(kind: str) -> Path:
    """The folder of one kind of asset: the wheel's copy, else the checkout's."""
    if kind not in KINDS:
        raise ValueError(f"unknown asset kind {kind!r}")
    bundled = BUNDLED / kind
    return bundled if bundled.is_dir() else CHECKOUT / kind


def roles_dir() -> Path:
    return asset_dir("roles")


def playbook(name: str) -> Path:
    return asset_dir("playbooks") / name


def templates_dir() -> Path:
    return asset_dir("templates")


def shipped_stacks_dir() -> Path:
    return asset_dir("stacks")
