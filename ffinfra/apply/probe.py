"""One cheap look at every node, in parallel: the installed files' hashes and which daemons run. The no-change
fast path, `up`'s closing checks and `status` read it; the node suite checks the same things with testinfra.

    probes = probe_hosts(remote, expected_files, expected_daemons)
    probes["ctl01"].missing_daemons   → ["slurmctld"]
    probes["cn02"].drifted            → [("/etc/slurm/slurm.conf", "changed")]

One SSH command per node: `sha256sum` of the files it should have, then `pgrep -x` for each daemon it should
run (the node's own process table: lab nodes have their own PID namespace).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ffinfra.runtime.ssh import Remote

MARK = "--ffinfra-daemons--"


@dataclass(frozen=True)
class HostProbe:
    host: str
    drifted: list[tuple[str, str]] = field(default_factory=list)  # (path, "missing" | "changed")
    missing_daemons: list[str] = field(default_factory=list)
    error: str = ""  # the node could not be read at all (unreachable, SSH refused)

    @property
    def healthy(self) -> bool:
        return not (self.drifted or self.missing_daemons or self.error)

    def problems(self) -> list[str]:
        out = [f"cannot read the node: {self.error}"] if self.error else []
        out += [f"{p} {why}" for p, why in self.drifted]
        out += [f"{d} not running" for d in self.missing_daemons]
        return out


def sha256_command(files: Mapping[str, str]) -> str:
    """A shell command printing `sha256sum` lines of the files that exist (missing ones print nothing)."""
    if not files:
        return "true"
    return "sha256sum " + " ".join(shlex.quote(p) for p in sorted(files)) + " 2>/dev/null; true"


def daemons_command(daemons: Sequence[str]) -> str:
    """Prints `up NAME` or `down NAME` for each process name."""
    checks = []
    for d in daemons:
        q = shlex.quote(d)
        checks.append(f"if pgrep -x {q} >/dev/null; then echo up {q}; else echo down {q}; fi")
    return "; ".join(checks) or "true"


def probe_command(files: Mapping[str, str], daemons: Sequence[str]) -> str:
    return f"{sha256_command(files)}; echo {MARK}; {daemons_command(daemons)}"


def file_drift(files: Mapping[str, str], sha256sum_output: str) -> list[tuple[str, str]]:
    """(path, "missing" | "changed") for every file whose hash on the node is not the expected one."""
    have = {}
    for line in sha256sum_output.splitlines():
        sha, _, path = line.partition("  ")
        have[path.strip()] = sha
    return [(p, "missing" if p not in have else "changed") for p, sha in sorted(files.items()) if have.get(p) != sha]


def parse_probe(host: str, files: Mapping[str, str], daemons: Sequence[str], output: str) -> HostProbe:
    sums, mark, tail = output.partition(MARK)
    if not mark:
        return HostProbe(host, error=f"unexpected output: {output.strip()[-200:]!r}")
    up = {line.split(None, 1)[1] for line in tail.splitlines() if line.startswith("up ")}
    return HostProbe(host, file_drift(files, sums), [d for d in daemons if d not in up])


def probe_hosts(
    remote: Remote,
    files: Mapping[str, Mapping[str, str]],
    daemons: Mapping[str, Sequence[str]],
    workers: int = 32,
    timeout: float = 30.0,
) -> dict[str, HostProbe]:
    """host → what differs from `files` (path → sha256) and `daemons` (process names) on it, for every host
    named in either."""
    hosts = sorted(set(files) | set(daemons))

    def one(host: str) -> HostProbe:
        want_files = files.get(host, {})
        want_daemons = list(daemons.get(host, ()))
        r = remote.run(host, probe_command(want_files, want_daemons), timeout=timeout)
        if r.rc == 255 and not r.stdout:
            return HostProbe(host, error=r.stderr.strip() or "SSH failed")
        return parse_probe(host, want_files, want_daemons, r.stdout)

    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        return dict(zip(hosts, pool.map(one, hosts), strict=True))
