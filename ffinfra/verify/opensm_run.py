"""One-shot OpenSM (`opensm -o -F <conf>`) against ibsim; the verdict comes from its log (analysis/opensm_log.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.analysis.opensm_log import OpenSMLog, conf_value, expected_engine, parse_opensm_log
from ffinfra.verify.tools import ToolRun, run_tool, tail


@dataclass(frozen=True, slots=True)
class OpenSMResult:
    subnet: str
    rc: int
    seconds: float
    expected_engine: str
    log: OpenSMLog
    log_path: Path
    output_tail: str = ""
    argv: tuple[str, ...] = field(default=(), repr=False)

    @property
    def timed_out(self) -> bool:
        return self.rc in (124, 137)

    @property
    def problems(self) -> list[str]:
        p: list[str] = []
        if self.timed_out:
            p.append("opensm timed out")
        elif self.rc != 0:
            p.append(f"opensm exited with status {self.rc}")
        if not self.log.subnet_up:
            p.append("no SUBNET UP in the OpenSM log")
        if self.log.engine != self.expected_engine:
            got = f"{self.log.engine} tables" if self.log.engine else "no '<engine> tables configured' line"
            p.append(f"expected '{self.expected_engine} tables configured on all switches', got {got}")
        p += [f"fallback: {x}" for x in self.log.fallbacks]
        p += [f"error: {x}" for x in self.log.errors]
        p += [f"config: {x}" for x in self.log.unrecognized]
        return p

    @property
    def ok(self) -> bool:
        return not self.problems


def run_opensm(
    conf: Path,
    env: Mapping[str, str],
    *,
    subnet: str,
    engine: str,
    cache_dir: Path,
    timeout_s: float = 120.0,
) -> OpenSMResult:
    """One sweep of OpenSM with config `conf` (its log_file must be writable; it is truncated first).

    `env` comes from IbSim.env(<SM node>); `cache_dir` gets guid2lid etc. and must be private to this subnet.
    """
    conf = Path(conf)
    log_value = conf_value(conf.read_text(), "log_file")
    log_path = Path(log_value) if log_value else cache_dir / "opensm.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")  # accum_log_file defaults to TRUE: start each run with an empty log
    cache_dir.mkdir(parents=True, exist_ok=True)
    run_env = dict(env)
    run_env["OSM_CACHE_DIR"] = f"{cache_dir}/"
    run_env["OSM_TMP_DIR"] = f"{cache_dir}/"
    args = ["opensm", "-o", "-F", str(conf)]
    if not log_value:
        args += ["-f", str(log_path)]
    r: ToolRun = run_tool(args, run_env, timeout_s, cwd=cache_dir)
    log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return OpenSMResult(
        subnet=subnet,
        rc=r.rc,
        seconds=r.seconds,
        expected_engine=expected_engine(engine),
        log=parse_opensm_log(log_text, r.stdout + r.stderr),
        log_path=log_path,
        output_tail=tail(r.stdout + r.stderr),
        argv=r.argv,
    )
