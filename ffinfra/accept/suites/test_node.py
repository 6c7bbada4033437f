"""node suite: each node as the spec and the compiled artifacts say it should be, read over SSH with testinfra."""

from __future__ import annotations

import shlex

import pytest

from ffinfra.accept import expect
from ffinfra.accept.threefs import NOT_ON_A_SIMULATED_FABRIC
from ffinfra.apply.probe import file_drift, sha256_command
from ffinfra.topology.threefs import BIN_DIR, LOG_DIR


def test_daemons_running(cluster, evidence, node):
    """Every daemon the node's roles start is an active and enabled systemd unit there (topology/services.py:
    ssh, munge, slurmd, slurmctld, ffinfra-opensm@<subnet>, ffinfra-ibsim), so it also comes back after a reboot."""
    host = cluster.host(node)
    services = cluster.topo.services.of(node)
    units = services.units_on(cluster.sim)
    problems = []
    for unit in units:
        svc = host.service(unit)
        if not svc.is_running:
            state = host.run(f"systemctl is-active {shlex.quote(unit)}").stdout.strip() or "unknown"
            problems.append(f"{unit} is {state}")
        if not svc.is_enabled:
            problems.append(f"{unit} is not enabled (it would not start at boot)")
    evidence.note(f"roles: {', '.join(services.roles)}; units: {', '.join(units)}")
    if problems:
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(problems))


def test_threefs_services(cluster, evidence, node):
    """The node's 3FS services run the installed binary (/opt/3fs/bin) and have logged nothing fatal. On a simulated
    fabric they are not started, and this says so, naming them."""
    daemons = [d for d in cluster.topo.services.of(node).daemons if d.real_only]
    if not daemons:
        pytest.skip(f"{node} runs no 3FS service")
    if cluster.sim:
        pytest.skip(f"{', '.join(d.process for d in daemons)}: {NOT_ON_A_SIMULATED_FABRIC}")
    problems = []
    for d in daemons:
        if d.process.endswith("_main"):
            exe = cluster.sh(node, f"readlink /proc/$(pgrep -o -x {shlex.quote(d.process)})/exe").stdout.strip()
            if exe != f"{BIN_DIR}/{d.process}":
                problems.append(f"{d.process} runs {exe or 'nowhere'}, not {BIN_DIR}/{d.process}")
            fatal = cluster.sh(node, f"cat {LOG_DIR}/{d.process}-fatal.log 2>/dev/null | tail -n 3").stdout.strip()
            if fatal:
                problems.append(f"{d.process} logged fatal errors: {fatal[:300]}")
    evidence.note(f"3FS services: {', '.join(d.process for d in daemons)}")
    if problems:
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(problems))


def test_rendered_configs_match(cluster, evidence, node):
    """Every file ffinfra installed on the node is byte-identical to the compiled artifact (sha256)."""
    files = cluster.installed_files[node]
    if not files:
        pytest.skip(f"{node} gets no rendered files")
    r = cluster.sh(node, sha256_command(files))
    say = {"missing": "is missing", "changed": "differs from the compiled artifact"}
    bad = [f"{p} {say[why]}" for p, why in file_drift(files, r.stdout)]
    evidence.note(f"{len(files) - len(bad)}/{len(files)} files match")
    if bad:
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(bad) + " (re-apply with `ffinfra up --force`)")


def test_kernel_parameters(cluster, evidence, node):
    """The sysctl values of the rendered drop-in are live in the kernel."""
    art = expect.artifact_at(cluster.artifacts, expect.SYSCTL_DEST)
    if art is None:
        pytest.skip("no sysctl drop-in rendered")
    if cluster.sim:
        pytest.skip(
            "lab nodes share this machine's kernel: the drop-in is installed (see rendered configs) but not "
            "applied, so that a lab never retunes its host"
        )
    want = expect.sysctl_settings(art.content)
    r = cluster.sh(node, "sysctl -e " + " ".join(shlex.quote(k) for k in want))
    have = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        have[k.strip()] = " ".join(v.split())
    bad = [f"{k} = {have.get(k, 'absent')} (want {v})" for k, v in sorted(want.items()) if have.get(k) != v]
    if bad:
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(bad))


def test_session_limits(cluster, evidence, node):
    """A login session gets the memlock and nofile limits of the rendered limits.d file (RDMA pins memory)."""
    art = expect.artifact_at(cluster.artifacts, expect.LIMITS_DEST)
    if art is None:
        pytest.skip("no limits file rendered")
    limits = expect.session_limits(art.content, "root")
    r = cluster.sh(node, expect.ulimit_command(limits))
    have = {
        (item, kind): v for item, kind, v in (line.split() for line in r.stdout.splitlines() if line.count(" ") == 2)
    }
    bad = [
        f"{lim.kind} {lim.item} is {have.get((lim.item, lim.kind), '?')}, want {lim.value}"
        for lim in limits
        if have.get((lim.item, lim.kind)) != lim.value
    ]
    if bad:
        caps = cluster.sh(node, "grep ^CapBnd /proc/self/status").stdout.split()
        cap_sys_resource = len(caps) == 2 and bool(int(caps[1], 16) >> 24 & 1)
        if not cap_sys_resource:
            pytest.skip(f"{node} cannot raise limits (no CAP_SYS_RESOURCE, as in a container): " + "; ".join(bad))
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(bad))


def test_mounts(cluster, evidence, node):
    """The filesystems the services need: /proc, /sys, the cgroup tree slurmd uses, /dev/shm for NCCL/gloo."""
    want = ["/proc", "/sys", "/dev/shm"]
    if cluster.topo.host_by_name[node].role == "compute":
        want.append("/sys/fs/cgroup")
    host = cluster.host(node)
    missing = [m for m in want if not host.mount_point(m).exists]
    evidence.note(f"checked {', '.join(want)}")
    if missing:
        evidence.blame(node)
        pytest.fail(f"{node}: not mounted: {', '.join(missing)}")


def test_gpus(cluster, evidence, node):
    """The profile's GPU count and model, and one driver version across the node's GPUs."""
    topo = cluster.topo
    profile = topo.profile(topo.host_by_name[node])
    if profile.gpus is None:
        pytest.skip(f"profile {topo.host_by_name[node].profile_name} has no GPUs")
    r = cluster.sh(node, "nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader")
    rows = expect.parse_nvidia_smi_csv(r.stdout)
    evidence.measure("gpus", node, len(rows), "GPUs")
    problems = []
    if r.rc != 0:
        problems.append(r.brief())
    if len(rows) != profile.gpus.count:
        problems.append(f"{len(rows)} GPUs, the profile says {profile.gpus.count}")
    model = profile.gpus.model.lower().replace("-", " ")
    wrong = [name for _, name, _ in rows if model not in name.lower().replace("-", " ")]
    if wrong:
        problems.append(f"GPU model {wrong[0]!r}, the profile says {profile.gpus.model!r}")
    if len({d for _, _, d in rows}) > 1:
        problems.append(f"mixed driver versions {sorted({d for _, _, d in rows})}")
    if problems:
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(problems))


def test_nic_link_rate(cluster, evidence, node):
    """Every NIC of the profile is up at its rated speed (Ethernet: sysfs speed; IB: port rate)."""
    topo = cluster.topo
    profile = topo.profile(topo.host_by_name[node])
    problems, checked = [], 0
    for nic in profile.nics:
        if nic.kind == "ethernet":
            r = cluster.sh(node, f"cat /sys/class/net/{shlex.quote(nic.device)}/speed")
            got = int(r.stdout.strip()) / 1000 if r.ok and r.stdout.strip().lstrip("-").isdigit() else None
        else:
            if cluster.sim:
                evidence.note(
                    f"{nic.device}: simulated HCA; its links' width and speed are checked by the fabric suite"
                )
                continue
            r = cluster.sh(node, f"cat /sys/class/infiniband/{shlex.quote(nic.device)}/ports/*/rate")
            rates = [expect.ib_rate_gbps(line) for line in r.stdout.splitlines()]
            got = min((x for x in rates if x is not None), default=None)
        checked += 1
        evidence.measure("nic_rate", f"{node} {nic.device}", got, "Gb/s")
        if got is None or got < nic.rate_gbps:
            problems.append(
                f"{nic.device} at {got if got is not None else 'unknown'} Gb/s, the profile says {nic.rate_gbps}"
            )
    if not checked:
        pytest.skip(f"{node}: no NIC to read here")
    if problems:
        evidence.blame(node)
        pytest.fail(f"{node}: " + "; ".join(problems))
