"""The front half of the pipeline: spec file → validated spec → Topology.

    load (YAML + LineMap) → models (pydantic) → resolve hosts and zone sizes → checks → cable → invariants

Every user mistake ends as findings located at file:line:col; SpecInvalid carries them all at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ffinfra import assets
from ffinfra.checks import CheckContext, run_checks
from ffinfra.errors import FfinfraError, SpecInvalid
from ffinfra.spec.findings import Finding, Severity
from ffinfra.spec.load import LineMap, load_yaml
from ffinfra.spec.models import ClusterSpec
from ffinfra.spec.schema_errors import findings_from_validation_error
from ffinfra.stack import StackRef
from ffinfra.topology.chains import APPLIED_CHAINS, ChainPlacementError, table_from_chains_csv
from ffinfra.topology.dims import zone_dims
from ffinfra.topology.facts import NodeFacts, load_facts
from ffinfra.topology.fattree import build_switches, place_and_wire
from ffinfra.topology.hfreduce import decide_hfreduce, read_source
from ffinfra.topology.invariants import check_invariants
from ffinfra.topology.model import Topology
from ffinfra.topology.nodes import group_counts, reserve_ports, resolve_hosts
from ffinfra.topology.services import decide_services
from ffinfra.topology.subnets import choose_subnet_managers
from ffinfra.topology.threefs import decide_threefs


@dataclass
class Compiled:
    stack: StackRef
    spec: ClusterSpec
    topology: Topology
    findings: list[Finding] = field(default_factory=list)  # non-blocking ones that remain after suppression
    facts: dict[str, NodeFacts] = field(default_factory=dict)  # the inventory CSV's rows, by hostname


def _finish(findings: list[Finding], lm: LineMap, suppress: set[str], strict: bool) -> list[Finding]:
    # Only warnings and notes can be silenced: compiling past an error builds a fabric on broken premises
    # (duplicate names or addresses, leaves over their radix). An error whose code the user tried to suppress
    # stays, and says so.
    kept = []
    for f in findings:
        if f.code in suppress and not f.is_blocking:
            continue
        if f.code in suppress:
            note = "errors cannot be suppressed; only warnings and notes can"
            f = Finding(f.code, f.severity, f.path, f.message, f"{f.hint}; {note}" if f.hint else note, f.location)
        kept.append(f.located(lm))
    threshold = Severity.WARNING if strict else Severity.ERROR
    if any(f.severity >= threshold for f in kept):
        raise SpecInvalid(sorted(kept, key=_order), strict=strict)
    return sorted(kept, key=_order)


def _order(f: Finding) -> tuple[object, ...]:
    loc = f.location
    return (-f.severity, loc.file if loc else "", loc.line if loc else 0, loc.col if loc else 0, f.code)


def compile_stack(stack: StackRef, suppress: tuple[str, ...] = (), strict: bool = False) -> Compiled:
    data, lm = load_yaml(stack.spec_path, stack.display_path)  # first: it refuses a huge file without reading it
    raw = stack.spec_path.read_bytes()
    try:
        spec = ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecInvalid([f.located(lm) for f in findings_from_validation_error(ClusterSpec, data, exc)]) from None

    # Suppressions from the spec and the command line; severities stay as the rules set them.
    suppressed = set(spec.validation.suppress) | set(suppress)
    findings: list[Finding] = []
    facts: dict[str, NodeFacts] = {}
    facts_file = None
    if spec.inventory.csv:
        csv_path = stack.spec_path.parent / spec.inventory.csv
        facts_file = str(Path(stack.display_path).parent / spec.inventory.csv)
        facts, ff = load_facts(csv_path, facts_file)
        findings += ff
    counts, f1 = group_counts(spec)
    hosts, f2 = resolve_hosts(spec, counts, facts)
    reserved = reserve_ports(spec, counts)  # ports held for hostlist names beyond `count`
    dims = zone_dims(spec, hosts, reserved)
    subnets, f3 = choose_subnet_managers(spec, hosts)
    findings += f1 + f2 + f3
    ctx = CheckContext(spec, counts, hosts, dims, subnets, facts, facts_file, stack.spec_path.parent)
    findings += run_checks(ctx)
    kept = _finish(findings, lm, suppressed, strict)

    switches = build_switches(spec, dims)
    placed, links, held = place_and_wire(spec, dims, hosts, switches, reserved)
    threefs = decide_threefs(spec, placed)
    # HFReduce's source is read (and hashed) only when the spec deploys it
    hfreduce = (
        decide_hfreduce(spec, placed, read_source(assets.asset_dir("hfreduce"))) if spec.hfreduce.enabled else None
    )
    base_chains = None
    applied = stack.spec_path.parent / APPLIED_CHAINS
    if threefs is not None and applied.is_file():
        try:
            base_chains = table_from_chains_csv(applied.read_text())
        except ChainPlacementError as exc:
            raise FfinfraError(
                f"{applied}: {exc} (the chain table `up` recorded; restore it from version control)"
            ) from None
    topo = Topology(
        spec=spec,
        zones=tuple(dims),
        hosts=tuple(placed),
        switches=tuple(switches),
        links=tuple(links),
        subnets=tuple(subnets),
        services=decide_services(spec, placed, subnets, threefs, hfreduce),
        spec_sha256=hashlib.sha256(raw).hexdigest(),
        reserved=tuple(held),
        threefs=threefs,
        hfreduce=hfreduce,
        base_chains=base_chains,
    )
    broken = check_invariants(topo)
    if broken:
        # The spec passed every rule, so a broken invariant is ffinfra's fault, not the user's.
        raise FfinfraError(
            "internal error: the compiled fabric breaks an invariant; please report it with the spec:\n"
            + "\n".join(f.format() for f in broken)
        )
    return Compiled(stack, spec, topo, kept, facts)
