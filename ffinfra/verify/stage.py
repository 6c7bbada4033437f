"""Write the rendered netlist and OpenSM files into a private work dir, with the install paths rewritten.

The rendered opensm.conf names /etc/opensm/<subnet>/…, /var/log/opensm-<subnet>.log and the dump dir
/var/log/opensm-<subnet>/. Here every path value of opensm.conf is rewritten: a file ffinfra renders → its copy
in the work dir, log_file and dump_files_dir → inside the work dir (the dump dir is created: OpenSM logs
ERR AB01 without it). Any other absolute path is reported, since the SM host would not have that file either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.errors import OperationalError
from ffinfra.render.artifact import Artifact

NETLIST = "fabric/ibsim.net"
_NODE = ("Switch", "Hca", "Rtr")
_GUID = ("switchguid", "caguid", "sysimgguid")
OPENSM_PREFIX = "opensm/"


@dataclass(frozen=True, slots=True)
class StagedSubnet:
    name: str
    dir: Path
    conf: Path
    log: Path
    dump_dir: Path
    cache_dir: Path


@dataclass
class Staged:
    netlist: Path
    subnets: dict[str, StagedSubnet] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)  # subnet → config problems found while staging


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def rewrite_conf(text: str, dest_map: dict[str, Path], sub: StagedSubnet) -> tuple[str, list[str]]:
    """Rewrite the path values of an opensm.conf; returns (new text, problems)."""
    out: list[str] = []
    problems: list[str] = []
    for line in text.splitlines(keepends=True):
        parts = line.split(None, 1)
        if len(parts) != 2 or parts[0].startswith("#") or not parts[1].strip().startswith("/"):
            out.append(line)
            continue
        key, value = parts[0], parts[1].strip()
        if value in dest_map:
            new = str(dest_map[value])
        elif key == "log_file":
            new = str(sub.log)
        elif key == "dump_files_dir":
            new = f"{sub.dump_dir}/"
        else:
            problems.append(f"opensm.conf: {key} {value} is not a file ffinfra renders")
            new = value
        out.append(f"{key} {new}\n")
    return "".join(out), problems


def stage(artifacts: Iterable[Artifact], workdir: Path) -> Staged:
    workdir = Path(workdir)
    arts = list(artifacts)
    by_path = {a.path: a for a in arts}
    if NETLIST not in by_path:
        raise OperationalError(f"no {NETLIST} among the rendered artifacts")
    staged = Staged(workdir / NETLIST)
    _write(staged.netlist, by_path[NETLIST].content)
    subnet_names = sorted(
        {a.path.split("/")[1] for a in arts if a.path.startswith(OPENSM_PREFIX) and a.path.count("/") == 2}
    )
    dest_map: dict[str, Path] = {}
    for a in arts:
        if a.path.startswith(OPENSM_PREFIX):
            dest_map[a.dest or a.path] = workdir / a.path
            _write(workdir / a.path, a.content)
    for name in subnet_names:
        d = workdir / "opensm" / name
        sub = StagedSubnet(name, d, d / "opensm.conf", d / "opensm.log", d / "dump", d / "cache")
        sub.dump_dir.mkdir(parents=True, exist_ok=True)
        for old in sub.dump_dir.iterdir():  # a previous run's dumps must not pass for this run's
            if old.is_file():
                old.unlink()
        sub.cache_dir.mkdir(parents=True, exist_ok=True)
        conf = by_path.get(f"{OPENSM_PREFIX}{name}/opensm.conf")
        if conf is None:
            staged.problems[name] = ["no opensm.conf rendered"]
            continue
        text, problems = rewrite_conf(conf.content, dest_map, sub)
        sub.conf.write_text(text)
        staged.subnets[name] = sub
        staged.problems[name] = problems
    return staged


def netlist_components(text: str) -> list[tuple[frozenset[str], str]] | None:
    """Split an ibsim netlist into its connected parts: (node names, a netlist of just those nodes) each, in the
    order of the file. Separate subnets (Fire-Flyer's zones) are separate parts, so each can have its own ibsim:
    one ibsim serves MADs on one thread, and two zones' sweeps in one simulator take as long as one after the
    other. None when the file has a line this does not understand (the caller then runs it whole)."""
    header: list[str] = []
    blocks: list[tuple[str, list[str], set[str]]] = []
    pending: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(_NODE) and s.count('"') >= 2:
            blocks.append((s.split('"')[1], [*pending, line], set()))
            pending = []
        elif s.startswith("[") and s.count('"') >= 2 and blocks and not pending:
            blocks[-1][1].append(line)
            blocks[-1][2].add(s.split('"')[1])
        elif s.startswith(_GUID):
            pending.append(line)
        elif not s or s.startswith("#"):
            (blocks[-1][1] if blocks and not pending else header if not blocks else pending).append(line)
        elif not blocks and "=" in s:
            header.append(line)  # width=, speed= ...: they hold for every part
        else:
            return None
    parent = {name: name for name, _, _ in blocks}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for name, _, peers in blocks:
        for peer in peers:
            if peer in parent:
                parent[find(peer)] = find(name)
    parts: dict[str, list[tuple[str, list[str]]]] = {}
    for name, lines, _ in blocks:
        parts.setdefault(find(name), []).append((name, lines))
    return [
        (frozenset(n for n, _ in members), "\n".join(header + [x for _, lines in members for x in lines]) + "\n")
        for members in parts.values()
    ]
