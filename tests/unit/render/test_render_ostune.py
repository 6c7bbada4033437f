"""sysctl.d and limits.d files: ffinfra's RDMA/HPC defaults, the spec on top."""

from __future__ import annotations

from ffinfra.render.ostune import DEFAULT_SYSCTL, render_ostune, sysctl_settings


def files(topo) -> dict[str, str]:
    return {a.path: a.content for a in render_ostune(topo)}


def sysctl_of(text: str) -> list[tuple[str, str]]:
    """(key, value) per setting line, in file order, as systemd-sysctl reads `key = value`."""
    out = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def test_defaults_are_all_there_with_a_why_comment(stack):
    text = files(stack("ff2"))["os/sysctl.conf"]
    got = dict(sysctl_of(text))
    assert got == {k: v for k, (v, _) in DEFAULT_SYSCTL.items()}
    assert got["fs.aio-max-nr"] == "67108864"
    assert got["net.ipv4.tcp_rmem"] == "4096 87380 268435456"
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), f"no comment above {line!r}"


def test_settings_are_sorted_by_key(stack):
    keys = [k for k, _ in sysctl_of(files(stack("lab"))["os/sysctl.conf"])]
    assert keys == sorted(keys)


def test_sysctl_spec_override_wins_and_additions_join_in_order(edited):
    topo = edited("lab", lambda d: d.update(os={"sysctl": {"vm.max_map_count": 2000000, "net.core.somaxconn": "4096"}}))
    pairs = sysctl_of(files(topo)["os/sysctl.conf"])
    keys = [k for k, _ in pairs]
    assert keys.count("vm.max_map_count") == 1
    assert dict(pairs)["vm.max_map_count"] == "2000000"
    assert dict(pairs)["net.core.somaxconn"] == "4096"
    assert keys == sorted(keys)
    assert "ffinfra's value: 1048576" in files(topo)["os/sysctl.conf"]


def test_sysctl_settings_is_what_the_file_says(edited):
    topo = edited("lab", lambda d: d.update(os={"sysctl": {"kernel.numa_balancing": 1}}))
    assert sysctl_settings(topo.spec) == dict(sysctl_of(files(topo)["os/sysctl.conf"]))


def test_limits_memlock_and_nofile_for_everyone_and_root(stack):
    rows = [ln.split() for ln in files(stack("ff2"))["os/limits.conf"].splitlines() if not ln.startswith("#")]
    assert sorted(rows) == sorted(
        [who, kind, item, value]
        for who in ("*", "root")
        for kind in ("soft", "hard")
        for item, value in (("memlock", "unlimited"), ("nofile", "1000000"))
    )


def test_limits_follow_the_spec(edited):
    topo = edited("lab", lambda d: d.update(os={"memlock": 67108864, "nofile": 65536}))
    text = files(topo)["os/limits.conf"]
    assert "* soft memlock 67108864" in " ".join(text.split()).replace(" * ", "\n* ")
    rows = [ln.split() for ln in text.splitlines() if not ln.startswith("#")]
    assert {r[3] for r in rows if r[2] == "memlock"} == {"67108864"}
    assert {r[3] for r in rows if r[2] == "nofile"} == {"65536"}


def test_nofile_above_the_kernel_default_raises_fs_nr_open(edited):
    topo = edited("lab", lambda d: d.update(os={"nofile": 4000000}))
    assert sysctl_settings(topo.spec)["fs.nr_open"] == "4000000"
    assert "fs.nr_open" not in sysctl_settings(edited("small", lambda d: None).spec)


def test_the_role_common_installs_them_on_every_host(stack):
    got = {(a.path, a.roles, a.group, a.dest) for a in render_ostune(stack("lab"))}
    assert got == {
        ("os/sysctl.conf", ("common",), "all", "/etc/sysctl.d/90-ffinfra.conf"),
        ("os/limits.conf", ("common",), "all", "/etc/security/limits.d/90-ffinfra.conf"),
    }


def test_rendering_twice_gives_identical_text(stack):
    assert files(stack("ff2")) == files(stack("ff2"))
