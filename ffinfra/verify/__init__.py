"""Verify rendered artifacts against running tools: the fabric in ibsim + OpenSM (fabric_check.verify_fabric).

Modules, one job each: tools (which binaries, run under timeout), ibsim (the simulator as a context manager),
stage (rendered files → work dir), opensm_run (one-shot SM + log verdict), cabling (discovered vs planned
cables), lft (dump_fts parser), wiring (planned
cabling from the Topology), routing (pure reachability walk + balance check), trace (ibtracert), fabric_check.
"""

from ffinfra.verify.fabric_check import FabricReport, SubnetReport, verify_fabric
from ffinfra.verify.tools import missing_tools, require_tools

__all__ = ["FabricReport", "SubnetReport", "missing_tools", "require_tools", "verify_fabric"]
