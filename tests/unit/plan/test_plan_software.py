"""A new build of what ffinfra builds or installs on the nodes (HFReduce: a new source, or a build option such as
the SIMD ceiling; Slurm and OpenSM: the package version the spec pins) is a change: the plan compares the builds the
cluster runs (state.json) with the spec's, shows a software row, and rolls the build's hosts through batches, the
canary first, or slurmctld first for a new Slurm."""

from __future__ import annotations

from ffinfra.plan.impact import Impact
from ffinfra.plan.plan import build_plan
from ffinfra.plan.report import headline
from ffinfra.plan.software import builds_of, changed_software

COMPUTE = ("cn01", "cn02", "cn03", "cn04")


def test_each_hfreduce_build_is_named_by_its_version_source_and_options(compiled_stack):
    topo = compiled_stack("lab").topology
    assert topo.hfreduce is not None
    src = topo.hfreduce.source
    assert builds_of(topo) == {
        "hfreduce/lab-node": f"{src.version}+{src.short} avx512 ibverbs",
        "opensm": "distribution",  # no version pinned: whatever Debian has
        "slurm": "distribution",
        "threefs": topo.spec.storage.threefs.build.commit,
    }


def test_a_new_source_under_the_same_spec_rolls_the_build_s_hosts_canary_first(compiled_stack):
    c = compiled_stack("lab")
    applied = builds_of(c.topology) | {"hfreduce/lab-node": "0.1.0+000000000000 avx512 ibverbs"}  # older ffinfra
    plan = build_plan(c, c, "applied", "spec", old_builds=applied)
    assert [r.section for r in plan.rows] == ["software"] and plan.impact == Impact.ROLLING_RESTART
    row = plan.rows[0]
    assert row.subject == "hfreduce/lab-node" and row.change.startswith("0.1.0+000000000000 avx512 ibverbs → ")
    assert row.details == COMPUTE
    assert plan.batches is not None
    assert [(b.kind, b.hosts) for b in plan.batches.batches] == [
        ("canary", ("cn01",)),
        *(("compute", (h,)) for h in COMPUTE[1:]),
    ]
    assert "1 build(s) changed" in headline(plan)


def test_the_same_builds_or_builds_never_recorded_are_no_change(compiled_stack):
    c = compiled_stack("lab")
    assert not build_plan(c, c, "a", "b", old_builds=builds_of(c.topology)).changed
    assert not build_plan(c, c, "a", "b", old_builds={}).changed  # state.json from an ffinfra that kept no builds
    assert changed_software({"hfreduce/gone-profile": "x"}, c.topology) == []


def test_a_build_option_in_the_spec_is_a_new_build_too(tmp_path, stack_text, write_stack):
    from ffinfra.compile import compile_stack

    text = stack_text("lab")
    old = compile_stack(write_stack(tmp_path / "old", text))
    new = compile_stack(write_stack(tmp_path / "new", text.replace("simd: avx512}", "simd: avx2}", 1)))
    plan = build_plan(old, new, "old", "new")
    sw = [r for r in plan.rows if r.section == "software"]
    assert len(sw) == 1 and sw[0].change.endswith(" avx2 ibverbs") and " avx512 ibverbs → " in sw[0].change
    assert plan.impact == Impact.ROLLING_RESTART and plan.batches is not None
    assert {h for b in plan.batches.batches for h in b.hosts} == set(COMPUTE)


def test_a_pinned_slurm_version_rolls_every_slurm_host_slurmctld_first(tmp_path, stack_text, write_stack):
    from ffinfra.compile import compile_stack

    text = stack_text("lab")
    old = compile_stack(write_stack(tmp_path / "old", text))
    pinned = text.replace("scheduler:\n  slurm:\n", "scheduler:\n  slurm:\n    version: 22.05.8-4+deb12u3\n")
    plan = build_plan(old, compile_stack(write_stack(tmp_path / "new", pinned)), "old", "new")
    (row,) = [r for r in plan.rows if r.section == "software"]
    assert (row.subject, row.change) == ("slurm", "distribution → 22.05.8-4+deb12u3")
    assert set(row.details) == {"cn01", "cn02", "cn03", "cn04", "ctl01", "login01"}
    assert plan.batches is not None
    order = [(b.kind, b.hosts) for b in plan.batches.batches]
    assert order[:2] == [("controller", ("ctl01",)), ("canary", ("cn01",))], order  # Slurm's upgrade order
    assert order[-1] == ("other", ("login01",))


def test_a_pinned_opensm_version_rolls_the_standby_before_the_master(tmp_path, stack_text, write_stack):
    from ffinfra.compile import compile_stack

    text = stack_text("lab")
    old = compile_stack(write_stack(tmp_path / "old", text))
    pinned = text.replace("  subnet_manager:\n", "  subnet_manager:\n    version: 3.3.23-2+b1\n")
    plan = build_plan(old, compile_stack(write_stack(tmp_path / "new", pinned)), "old", "new")
    assert [r.subject for r in plan.rows if r.section == "software"] == ["opensm"]
    assert plan.batches is not None
    assert [(b.kind, b.hosts) for b in plan.batches.batches] == [("standby-sm", ("st01",)), ("controller", ("ctl01",))]


def test_a_new_3fs_commit_rolls_its_hosts_storage_nodes_never_two_of_a_chain(compiled_stack):
    c = compiled_stack("lab")
    applied = builds_of(c.topology) | {"threefs": "0" * 40}
    plan = build_plan(c, c, "applied", "spec", old_builds=applied)
    (row,) = [r for r in plan.rows if r.section == "software"]
    assert row.subject == "threefs" and set(row.details) == set(c.topology.threefs.hosts)
    assert plan.batches is not None
    storage = [b for b in plan.batches.batches if any(h in ("st01", "st02") for h in b.hosts)]
    assert all(len([h for h in b.hosts if h.startswith("st")]) == 1 for b in storage)  # one storage node a batch
