"""One cheap look at every node, in parallel: the installed files' hashes and the state of the systemd units it
should run. The no-change fast path and `up`'s closing checks read it; the node suite checks the same things with
testinfra.

    probes = probe_hosts(remote, expected_files, expected_units)
    probes["ctl01"].down              → [("slurmctld", "failed")]
    probes["cn02"].drifted            → [("/etc/slurm/slurm.conf", "changed")]

One SSH command per node: `sha256sum` of the files it should have, then `systemctl is-active` of each unit.
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
    down: list[tuple[str, str]] = field(default_factory=list)  # (unit, its state: inactive, failed, activating ...)
    error: str = ""  # the node could not be read at all (unreachable, SSH refused)

    @property
    def healthy(self) -> bool:
        return not (self.drifted or self.down or self.error)

    @property
    def down_units(self) -> list[str]:
        return [u for u, _ in self.down]

    def problems(self) -> list[str]:
        out = [f"cannot read the node: {self.error}"] if self.error else []
        out += [f"{p} {why}" for p, why in self.drifted]
        out += [f"{unit} is {state}" for unit, state in self.down]
        return out


def sha256_command(files: Mapping[str, str]) -> str:
    """A shell command printing `sha256sum` lines of the files that exist (missing ones print nothing)."""
    if not files:
        return "true"
    return "sha256sum " + " ".join(shlex.quote(p) for p in sorted(files)) + " 2>/dev/null; true"


def units_command(units: Sequence[str]) -> str:
    """Prints `STATE UNIT` for each systemd unit (active, inactive, failed, activating ...)."""
    if not units:
        return "true"
    names = " ".join(shlex.quote(u) for u in units)
    return f'for u in {names}; do echo "$(systemctl is-active "$u" 2>/dev/null || true) $u"; done'


def probe_command(files: Mapping[str, str], units: Sequence[str]) -> str:
    return f"{sha256_command(files)}; echo {MARK}; {units_command(units)}"


def file_drift(files: Mapping[str, str], sha256sum_output: str) -> list[tuple[str, str]]:
    """(path, "missing" | "changed") for every file whose hash on the node is not the expected one."""
    have = {}
    for line in sha256sum_output.splitlines():
        sha, _, path = line.partition("  ")
        have[path.strip()] = sha
    return [(p, "missing" if p not in have else "changed") for p, sha in sorted(files.items()) if have.get(p) != sha]


def parse_probe(host: str, files: Mapping[str, str], units: Sequence[str], output: str) -> HostProbe:
    sums, mark, tail = output.partition(MARK)
    if not mark:
        return HostProbe(host, error=f"unexpected output: {output.strip()[-200:]!r}")
    state = {}
    for line in tail.splitlines():
        st, _, unit = line.strip().rpartition(" ")
        if unit:
            state[unit] = st or "unknown"
    return HostProbe(
        host, file_drift(files, sums), [(u, state.get(u, "unknown")) for u in units if state.get(u) != "active"]
    )


def probe_hosts(
    remote: Remote,
    files: Mapping[str, Mapping[str, str]],
    units: Mapping[str, Sequence[str]],
    workers: int = 32,
    timeout: float = 30.0,
) -> dict[str, HostProbe]:
    """host → what differs from `files` (path → sha256) and `units` (systemd units that must be active) on it,
    for every host named in either."""
    hosts = sorted(set(files) | set(units))

    def one(host: str) -> HostProbe:
        want_files = files.get(host, {})
        want_units = list(units.get(host, ()))
        r = remote.run(host, probe_command(want_files, want_units), timeout=timeout)
        if r.rc == 255 and not r.stdout:
            return HostProbe(host, error=r.stderr.strip() or "SSH failed")
        return parse_probe(host, want_files, want_units, r.stdout)

    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        return dict(zip(hosts, pool.map(one, hosts), strict=True))
