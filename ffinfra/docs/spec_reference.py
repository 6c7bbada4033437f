"""The documentation that is generated from the code, and the one command that regenerates it.

    python -m ffinfra.docs.spec_reference --write    rewrite every generated block in README.md and docs/*.md
    python -m ffinfra.docs.spec_reference --check    exit 1 and name the files whose blocks are stale
    python -m ffinfra.docs.spec_reference            print the spec reference

A generated block sits between two marker comments, `<!-- NAME:start (...) -->` and `<!-- NAME:end -->`, and
BLOCKS says which file holds each one: the spec reference (the pydantic models' fields and descriptions), the
finding codes (the rule registry), the update policy of every field (ffinfra/plan/policy.py) and the impact
classes (ffinfra/plan/impact.py).
tests/unit/docs/test_docs.py fails when a block is stale, missing, or in a file other than its own.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ffinfra.spec.models import ClusterSpec
from ffinfra.spec.pending import pending_issue

COMMAND = "python -m ffinfra.docs.spec_reference --write"
# The checkout this module belongs to: README.md and docs/ are there.
ROOT = Path(__file__).resolve().parents[2]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list of {inner}" if origin is list else f"({inner})"
    if origin is dict:
        return f"map of {_type_name(args[0])} → {_type_name(args[1])}"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return getattr(tp, "__name__", str(tp))


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for f in tp.model_fields.values():
                visit(f.annotation)
            return
        for a in typing.get_args(tp):
            visit(a)

    visit(root)
    return seen


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "(defaults)"
    if value is None:
        return "—"
    return f"`{value}`"


def reference() -> str:
    out = []
    for m in _models(ClusterSpec):
        out.append(f"#### {m.__name__}\n")
        doc = (m.__doc__ or "").strip()
        if doc and m is not ClusterSpec and "Usage docs" not in doc:
            out.append(doc.splitlines()[0] + "\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|")
        for name, f in m.model_fields.items():
            desc = (f.description or "").replace("|", "\\|")
            issue = pending_issue(m, name)
            if issue is not None:  # the same table the FF-SPEC-002 note comes from
                desc = f"{desc} *Not used yet: issue {issue.number} ({issue.brings}) will use it.*".lstrip()
            out.append(f"| `{name}` | {_type_name(f.annotation)} | {_default(f)} | {desc} |")
        out.append("")
    return "\n".join(out)


def codes_table() -> str:
    from ffinfra.checks import all_codes

    rows = ["| code | checks |", "|---|---|"]
    rows += [f"| `{code}` | {text} |" for code, text in all_codes().items()]
    return "\n".join(rows) + "\n"


def policy_table() -> str:
    from ffinfra.plan.policy import _TABLE

    rows = ["| spec path (first match wins) | impact | action |", "|---|---|---|"]
    for pattern, impact, action in _TABLE:
        label = impact.label if impact is not None else "derived from the node/fabric changes"
        rows.append(f"| `{pattern}` | {label} | {action} |")
    return "\n".join(rows) + "\n"


def impact_table() -> str:
    from ffinfra.plan.impact import LABELS, MEANING, Impact

    rows = ["| impact | meaning |", "|---|---|"]
    rows += ["| " + LABELS[i] + " | " + MEANING[i].replace("|", "\\|") + " |" for i in Impact]
    return "\n".join(rows) + "\n"


def pulumi_graph() -> str:
    """The Pulumi engine's resource graph: the lab's as a tree, resource counts for lab and ff2."""
    from ffinfra.apply.pulumi.graph import CLUSTER, GROUP, NODE, ROLE, ZONE, build_graph
    from ffinfra.compile import compile_stack
    from ffinfra.stack import find_stack

    def graph(name: str, provider: str):
        return build_graph(compile_stack(find_stack(str(ROOT / "stacks" / name))), provider, f"stacks/{name}")

    def flags(rs) -> str:
        marks = [m for m, on in (("protect", any(r.protect for r in rs)), ("retainOnDelete", any(
            r.retain_on_delete for r in rs))) if on]  # fmt: skip
        return f" [{', '.join(marks)}]" if marks else ""

    lab = graph("lab", "lab")
    kids: dict[str | None, list] = {}
    for r in lab.resources:
        kids.setdefault(r.parent, []).append(r)
    lines = ["```text"]
    for cluster in kids[None]:
        lines.append(f"Cluster {cluster.name}")
        for zi, zone in enumerate(kids[cluster.name]):
            zlast = zi == len(kids[cluster.name]) - 1
            lines.append(f"{'└─' if zlast else '├─'} Zone {zone.name} (subnet {zone.inputs['subnet']}, "
                         f"{len(zone.inputs['switches'])} switches)")  # fmt: skip
            pad = "   " if zlast else "│  "
            for gi, group in enumerate(kids[zone.name]):
                glast = gi == len(kids[zone.name]) - 1
                lines.append(f"{pad}{'└─' if glast else '├─'} NodeGroup {group.name}")
                inner = pad + ("   " if glast else "│  ")
                nodes = [r for r in kids[group.name] if r.type == NODE]
                roles = [r for r in kids[group.name] if r.type == ROLE]
                lines.append(f"{inner}├─ Node {', '.join(r.name for r in nodes)}{flags(nodes)}")
                for ri, r in enumerate(roles):
                    last = ri == len(roles) - 1
                    lines.append(f"{inner}{'└─' if last else '├─'} RoleApplication {r.inputs['role']}{flags([r])}")
    lines.append("```")
    rows = ["", "| stack | components (cluster, zones, node groups) | Node | RoleApplication | protected | "
            "retainOnDelete |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, provider in (("lab", "lab"), ("ff2", "baremetal")):
        g = lab if name == "lab" else graph(name, provider)
        c = g.counts()
        comps = f"{c.get(CLUSTER, 0)} + {c.get(ZONE, 0)} + {c.get(GROUP, 0)}"
        prot = sum(r.protect for r in g.resources)
        ret = sum(r.retain_on_delete for r in g.resources)
        rows.append(f"| {name} ({provider}) | {comps} | {c.get(NODE, 0)} | {c.get(ROLE, 0)} | {prot} | {ret} |")
    return "\n".join(lines + rows) + "\n"


@dataclass(frozen=True)
class Block:
    """One generated block: its marker name, the file that holds it (relative to the checkout) and its text."""

    name: str
    file: str
    body: Callable[[], str]

    @property
    def start(self) -> str:
        return f"<!-- {self.name}:start (generated by {COMMAND}; do not edit) -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}:end -->"


BLOCKS = (
    Block("spec-reference", "docs/spec-reference.md", reference),
    Block("codes", "docs/codes.md", codes_table),
    Block("policies", "docs/update-policies.md", policy_table),
    Block("impacts", "docs/plan.md", impact_table),
    Block("pulumi-graph", "docs/pulumi.md", pulumi_graph),
)

# Any generated-block marker, current or not: a marker whose text differs from its block's is stale too.
_MARKER = re.compile(r"<!-- ([A-Za-z0-9_-]+):(start|end)\b[^>]*-->")


class StaleMarker(Exception):
    """A marker that names no block, is not in its current wording, marks a block twice, or starts one that never
    ends."""


def _splice_block(text: str, block: Block) -> str:
    head, found, rest = text.partition(block.start)
    if not found:
        return text
    _, found, tail = rest.partition(block.end)
    if not found:
        raise StaleMarker(f"{block.start} has no {block.end} after it")
    return f"{head}{block.start}\n\n{block.body()}\n{block.end}{tail}"


def markers(text: str) -> list[tuple[str, str, str]]:
    """Every generated-block marker in a text: (name, start|end, the whole comment)."""
    return [(m.group(1), m.group(2), m.group(0)) for m in _MARKER.finditer(text)]


def _current(name: str, kind: str, comment: str) -> str:
    block = next((b for b in BLOCKS if b.name == name), None)
    if block is None:
        known = ", ".join(b.name for b in BLOCKS)
        raise StaleMarker(f"{comment}: no generated block is called {name!r} (known: {known})")
    return block.start if kind == "start" else block.end


def normalise_markers(text: str) -> str:
    """The text with every marker of a known block in its current wording (what --write does first)."""
    return _MARKER.sub(lambda m: _current(m.group(1), m.group(2), m.group(0)), text)


def splice(text: str) -> str:
    """The text with every generated block it holds rewritten from the code; other text is kept as it is. Raises
    StaleMarker on a marker that is not in its current wording, names no block, or marks a block twice."""
    found = markers(text)
    for name, kind, comment in found:
        want = _current(name, kind, comment)
        if comment != want:
            raise StaleMarker(f"{comment}: the marker must read {want} (run {COMMAND})")
        if sum(1 for n, k, _ in found if (n, k) == (name, kind)) > 1:
            raise StaleMarker(f"the {name} block is marked more than once: keep one")
    for block in BLOCKS:
        text = _splice_block(text, block)
    return text


def doc_files(root: Path = ROOT) -> list[Path]:
    """The Markdown the project keeps fresh: README.md and every file under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def stale(root: Path = ROOT) -> list[str]:
    """Files (relative to root) whose generated blocks differ from what the code generates now, or that lack a
    block BLOCKS puts there."""
    out = []
    for path in doc_files(root):
        text = path.read_text()
        rel = path.relative_to(root).as_posix()
        missing = [b for b in BLOCKS if b.file == rel and b.start not in text]
        if missing or splice(text) != text:
            out.append(rel)
    out += [b.file for b in BLOCKS if not (root / b.file).exists()]
    return sorted(set(out))


def write(root: Path = ROOT) -> list[str]:
    """Rewrite every generated block under root; returns the files that changed. A file that should hold a block
    and does not gets it appended, so a new block needs no hand-written markers."""
    changed = []
    for block in BLOCKS:
        path = root / block.file
        text = normalise_markers(path.read_text()) if path.exists() else ""
        if block.start not in text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{text.rstrip()}\n\n{block.start}\n{block.end}\n".lstrip())
    for path in doc_files(root):
        text = path.read_text()
        new = splice(normalise_markers(text))
        if new != text:
            path.write_text(new)
            changed.append(path.relative_to(root).as_posix())
    return sorted(set(changed))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ffinfra.docs.spec_reference",
        description="Regenerate the documentation that comes from the code (README.md and docs/).",
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite every generated block in README.md and docs/")
    mode.add_argument("--check", action="store_true", help="exit 1 when a generated block is stale")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout holding README.md and docs/")
    args = ap.parse_args(argv)
    try:
        if args.write:
            for rel in write(args.root):
                print(f"wrote {rel}")
            return 0
        if args.check:
            bad = stale(args.root)
            for rel in bad:
                print(f"stale: {rel} (run {COMMAND})", file=sys.stderr)
            return 1 if bad else 0
    except StaleMarker as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
