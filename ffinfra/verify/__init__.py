"""Verify rendered artifacts against the real tools, offline: the stack's fabric in ibsim, routed by OpenSM with
the rendered config (`ffinfra verify-fabric`; fabric_check.verify_fabric). What the tools print is judged by
ffinfra.analysis.

tools        which binaries, run under timeout
ibsim        the simulator as a context manager
stage        rendered files → a private work dir
opensm_run   one-shot OpenSM
diag         dump_fts and ibtracert against the simulator
fabric_check the whole check, per subnet
"""

from ffinfra.verify.fabric_check import FabricReport, SubnetReport, verify_fabric
from ffinfra.verify.tools import missing_tools, require_tools

__all__ = ["FabricReport", "SubnetReport", "missing_tools", "require_tools", "verify_fabric"]
