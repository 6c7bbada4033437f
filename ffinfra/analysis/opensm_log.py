"""What an OpenSM log says about its sweep: the routing engine it used, SUBNET UP, fallbacks and errors.

OpenSM takes most bad input without failing: a malformed cn_guid_file or an unknown engine name makes it route
with minhop, a partitions syntax error puts every port in the default partition (ib-probe §7.2). So success
here is: exit 0, SUBNET UP, "<expected engine> tables configured on all switches", and no fallback, ERR or
unrecognized-option line anywhere.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

ENGINE_RE = re.compile(r"(\S+) tables configured on all switches")
STATE_RE = re.compile(r"Entering (\w+) state")  # the SM state machine: DISCOVERING, MASTER, STANDBY, ...
# Lower-case substrings of log/stdout lines that mean OpenSM did not do what its config asked.
FALLBACK_MARKERS = (
    "falling back",  # "Failed reading guid files - falling back to default routing", LMC > 0 with ftree
    "not a fat-tree",  # "Fabric topology is not a fat-tree"
    "hasn't been identified as fattree",
    "cannot build lid matrices",  # "ftree: cannot build lid matrices" (the engine gave up)
    "cannot find or setup routing engine",  # routing_engine typo → minhop
    "retrying with default config",  # partitions.conf error → everyone a full member of the default partition
    "parse error",  # partitions.conf / qos policy syntax
)
UNRECOGNIZED = "unrecognized token"  # unknown opensm.conf key (stdout)


@dataclass(frozen=True, slots=True)
class OpenSMLog:
    engine: str | None  # engine of the last "<engine> tables configured on all switches"
    subnet_up: bool
    fallbacks: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # " ERR " lines
    unrecognized: tuple[str, ...] = ()  # "Unrecognized token" lines (unknown config keys)
    state: str | None = None  # the last "Entering <STATE> state": MASTER, or STANDBY for a standby SM


# Where a resident OpenSM's log may be when its opensm.conf names none (first match wins).
OPENSM_LOGS = (
    "/var/log/opensm/{subnet}.log",
    "/var/log/opensm-{subnet}.log",
    "/var/log/opensm/{subnet}/opensm.log",
    "/var/log/opensm.log",
)


def configured_engine(conf_text: str | None) -> str:
    """The engine a subnet's opensm.conf asks for (OpenSM's default, minhop, when it names none)."""
    if conf_text is None:
        return "ftree"
    return expected_engine(conf_value(conf_text, "routing_engine") or "minhop")


def log_command(conf_text: str | None, subnet: str) -> str:
    """Shell command printing `==> PATH` and then the subnet's OpenSM log: the log_file its opensm.conf names
    (where the opensm role's OpenSM writes), else the first of OPENSM_LOGS that exists; exit 3 when none does."""
    conf_log = conf_value(conf_text, "log_file") if conf_text else None
    candidates = ([conf_log] if conf_log else []) + [p.format(subnet=subnet) for p in OPENSM_LOGS]
    paths = " ".join(shlex.quote(p) for p in dict.fromkeys(candidates))
    return f'for f in {paths}; do if [ -f "$f" ]; then echo "==> $f"; cat "$f"; exit 0; fi; done; exit 3'


def sweep_problems(log: OpenSMLog, engine: str) -> list[str]:
    """What is wrong with a resident OpenSM's sweep: no SUBNET UP, another engine than configured, a fallback."""
    problems = [] if log.subnet_up else ["no SUBNET UP"]
    if log.engine != engine:
        problems.append(f"expected {engine} routing, got {log.engine or 'none'}")
    return problems + [f"fallback: {x}" for x in log.fallbacks]


def _strip_prefix(line: str) -> str:
    """Drop the timestamp/thread prefix of an OpenSM log line: 'Nov 28 13:05:15 807207 [655566C0] 0x02 -> '."""
    _, sep, rest = line.partition(" -> ")
    return rest if sep else line.strip()


def parse_opensm_log(log: str, stdout: str = "") -> OpenSMLog:
    """Pure: summarize an OpenSM log (and optionally its stdout)."""
    engine: str | None = None
    state: str | None = None
    subnet_up = False
    fallbacks: list[str] = []
    errors: list[str] = []
    unrecognized: list[str] = []
    for raw in log.splitlines():
        low = raw.lower()
        if m := ENGINE_RE.search(raw):
            engine = m.group(1)
        if "SUBNET UP" in raw:
            subnet_up = True
        if m := STATE_RE.search(raw):
            state = m.group(1)
        if " ERR " in raw:
            errors.append(_strip_prefix(raw))
        if any(k in low for k in FALLBACK_MARKERS):
            fallbacks.append(_strip_prefix(raw))
        if UNRECOGNIZED in low:
            unrecognized.append(_strip_prefix(raw))
    for raw in stdout.splitlines():
        low = raw.lower()
        if UNRECOGNIZED in low:
            unrecognized.append(raw.strip())
        elif any(k in low for k in FALLBACK_MARKERS):
            fallbacks.append(raw.strip())
    dedup = lambda xs: tuple(dict.fromkeys(xs))  # noqa: E731 - keep first-seen order
    return OpenSMLog(engine, subnet_up, dedup(fallbacks), dedup(errors), dedup(unrecognized), state)


def expected_engine(routing_engine: str) -> str:
    """The engine OpenSM should report: the first of a fallback chain ("ftree,updn" → ftree)."""
    return routing_engine.split(",")[0].strip()


def conf_value(conf_text: str, key: str) -> str | None:
    """Value of `key` in an opensm.conf ("key value" lines, # comments)."""
    for line in conf_text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] == key:
            return parts[1].strip()
    return None
