"""infiniband-diags run against a simulated fabric (the env comes from IbSim.env); their output is parsed by
ffinfra.analysis."""

from __future__ import annotations

from collections.abc import Mapping

from ffinfra.analysis.lft import FtsDump, parse_dump_fts
from ffinfra.analysis.trace import Trace, parse_ibtracert
from ffinfra.verify.tools import ToolRun, run_tool, tail


def run_dump_fts(env: Mapping[str, str], timeout_s: float = 60.0) -> tuple[FtsDump, ToolRun]:
    r = run_tool(["dump_fts"], env, timeout_s)
    return parse_dump_fts(r.stdout), r


def run_ibtracert(env: Mapping[str, str], src_lid: int, dst_lid: int, timeout_s: float = 30.0) -> Trace:
    r = run_tool(["ibtracert", str(src_lid), str(dst_lid)], env, timeout_s)
    t = parse_ibtracert(r.stdout, src_lid, dst_lid)
    t.rc = r.rc
    if r.rc != 0 or not t.dest:
        t.error = tail(r.stderr or r.stdout, 3) or f"exit status {r.rc}"
    return t
