"""Renderer-test fixtures on top of tests/conftest.py: compiled Topologies of shipped and edited stacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from ffinfra.compile import compile_stack
from ffinfra.topology.model import Topology


@pytest.fixture(scope="session")
def stack(compiled_stack) -> Callable[[str], Topology]:
    """stack("ff2") → the Topology of stacks/ff2, compiled once per session (shared: do not mutate)."""
    return lambda name: compiled_stack(name).topology


@pytest.fixture
def edited(make_stack, stack_text) -> Callable[[str, Callable[[dict[str, Any]], None]], Topology]:
    """edited("lab", fn) → the Topology of stacks/lab/cluster.yaml after fn has edited its YAML data in place."""

    def make(name: str, edit: Callable[[dict[str, Any]], None]) -> Topology:
        data = yaml.safe_load(stack_text(name))
        edit(data)
        return compile_stack(make_stack(data, name=name)).topology

    return make
