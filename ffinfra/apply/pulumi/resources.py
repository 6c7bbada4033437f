"""The dynamic providers: Pulumi's diff/create/read/update/delete for a node and for a role application.

Each answers Pulumi from graph.py's decisions (which inputs differ, which of them replace) and acts through
operations.py, ffinfra's own code. Pulumi serialises the provider into every resource's state and runs it in a
process of its own: the classes hold nothing, and import what they call when they are called.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi import Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from ffinfra.apply.pulumi.graph import NODE_REPLACE, STATEFUL, changed_hosts, diff_inputs


def _diff(olds: dict[str, Any], news: dict[str, Any], replace_keys: tuple[str, ...]) -> DiffResult:
    d = diff_inputs(olds, news, replace_keys)
    # delete before replace: a node or a stateful service cannot exist twice under one name
    return DiffResult(changes=d.changes, replaces=list(d.replaces), delete_before_replace=True)


class NodeProvider(ResourceProvider):
    """One node of the stack, made by its provider (lab: namespaces; bare metal: BMC power-on and network boot)."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, NODE_REPLACE)

    def create(self, props: dict[str, Any]) -> CreateResult:
        from ffinfra.apply.pulumi.operations import provision_node

        return CreateResult(f"{props['stack']}/{props['name']}", {**props, **provision_node(props)})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # a changed address or group: the provider makes the node again where it no longer matches
        from ffinfra.apply.pulumi.operations import provision_node

        return UpdateResult({**news, **provision_node(news, olds.get("incarnation"))})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from ffinfra.apply.pulumi.operations import read_node

        seen = read_node(props)
        return ReadResult(id_ if seen is not None else None, seen)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from ffinfra.apply.pulumi.operations import remove_node

        remove_node(props)


def role_id(props: dict[str, Any]) -> str:
    hosts = ",".join(sorted(props.get("hosts") or {}))
    return f"{props['stack']}/{props['role']}/{hashlib.sha256(hosts.encode()).hexdigest()[:12]}"


class RoleProvider(ResourceProvider):
    """One Ansible role on one node group's nodes in one zone, keyed by the sha256 of every file it installs."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, ("identity",))

    def create(self, props: dict[str, Any]) -> CreateResult:
        from ffinfra.apply.pulumi.operations import apply_role

        run = apply_role(props, sorted(props["hosts"]))
        return CreateResult(role_id(props), {**props, "run": str(run)})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """The role runs only where its files or its software changed; hosts that left it stop its daemons."""
        from ffinfra.apply.pulumi.operations import apply_role, stop_role

        outs = {**news, "run": olds.get("run", "")}
        hosts = changed_hosts(olds, news)
        if hosts:
            outs["run"] = str(apply_role(news, hosts))
        left = sorted(set(olds.get("hosts") or {}) - set(news.get("hosts") or {}))
        if left and news["role"] not in STATEFUL:
            stop_role(news, left)
        return UpdateResult(outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from ffinfra.apply.pulumi.operations import read_role

        seen = read_role(props)
        # the hashes the nodes hold become the inputs: the next up's diff is the drift, and repairs it
        return ReadResult(id_, seen, {k: v for k, v in seen.items() if k != "run"})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from ffinfra.apply.pulumi.operations import stop_role

        stop_role(props, sorted(props.get("hosts") or {}))


class Node(Resource, module="ffinfra", name="Node"):
    incarnation: Output[str]  # new whenever the provider makes the node (anew): its roles must run again

    def __init__(self, name: str, props: dict[str, Any], opts: ResourceOptions | None = None):
        super().__init__(NodeProvider(), name, {**props, "incarnation": None}, opts)


class RoleApplication(Resource, module="ffinfra", name="RoleApplication"):
    def __init__(self, name: str, props: dict[str, Any], opts: ResourceOptions | None = None):
        super().__init__(RoleProvider(), name, props, opts)
