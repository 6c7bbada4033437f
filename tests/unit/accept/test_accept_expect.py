"""What each node should show, derived from the topology and the rendered OS artifacts."""

from __future__ import annotations

from ffinfra.accept import expect
from ffinfra.render.targets import render_all


def test_ib_tools_attach_to_the_lab_simulator_at_the_sm_hca(compiled_stack):
    topo = compiled_stack("lab").topology
    env, ca = expect.ib_prefix(topo, topo.subnets[0], sim=True)
    assert env.startswith(". /etc/default/ffinfra-ibsim && export IBSIM_SERVER_NAME IBSIM_SERVER_PORT && LD_PRELOAD=")
    assert "SIM_HOST='ctl01 mlx5_0'" in env and ca == ""


def test_ib_tools_on_real_hardware_use_the_sm_port_of_each_subnet(compiled_stack):
    topo = compiled_stack("ff2").topology
    for sn in topo.subnets:
        env, ca = expect.ib_prefix(topo, sn, sim=False)
        port = next(p for p in topo.host_ports if p.port_guid == sn.sm_port_guid)
        assert env == "" and ca == f"-C {port.nic} -P {port.port} "
        assert port.host == sn.sm_host


def test_sysctl_settings_of_the_rendered_drop_in(compiled_stack):
    art = expect.artifact_at(render_all(compiled_stack("lab").topology), expect.SYSCTL_DEST)
    settings = expect.sysctl_settings(art.content)
    assert settings["vm.max_map_count"] == "1048576"
    assert settings["net.ipv4.tcp_rmem"] == "4096 87380 268435456"  # inner whitespace as `sysctl` prints it
    assert all(not k.startswith("#") for k in settings)


def test_sysctl_settings_ignore_comments_and_the_ignore_errors_dash():
    assert expect.sysctl_settings("# c\n-net.core.somaxconn = 4096  # why\n\nkernel.x=\t1  2\n") == {
        "net.core.somaxconn": "4096",
        "kernel.x": "1 2",
    }


def test_session_limits_for_root_use_root_lines_only():
    text = "*  soft nofile 10\n*  hard nofile 20\nroot - memlock unlimited\nroot soft nofile 30\n"
    lims = expect.session_limits(text, "root")
    assert [(x.item, x.kind, x.value) for x in lims] == [
        ("memlock", "hard", "unlimited"),
        ("memlock", "soft", "unlimited"),
        ("nofile", "soft", "30"),
    ]


def test_session_limits_for_a_user_let_own_lines_win_over_star():
    text = "*  soft nofile 10\n*  hard nofile 20\nalice hard nofile 99\n"
    lims = {(x.item, x.kind): x.value for x in expect.session_limits(text, "alice")}
    assert lims == {("nofile", "soft"): "10", ("nofile", "hard"): "99"}


def test_ulimit_command_prints_item_kind_value():
    cmd = expect.ulimit_command([expect.Limit("nofile", "soft", "1"), expect.Limit("memlock", "hard", "2")])
    assert cmd == "echo nofile soft $(ulimit -Sn); echo memlock hard $(ulimit -Hl)"


def test_ib_rate_from_sysfs():
    assert expect.ib_rate_gbps("200 Gb/sec (4X HDR)") == 200.0
    assert expect.ib_rate_gbps("56 Gb/sec (4X FDR)\n") == 56.0
    assert expect.ib_rate_gbps("garbage") is None


def test_nvidia_smi_csv_rows():
    # the format of `nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader`
    text = "0, NVIDIA A100-PCIE-40GB, 535.161.08\n1, NVIDIA A100-PCIE-40GB, 535.161.08\nNo devices were found\n"
    assert expect.parse_nvidia_smi_csv(text) == [
        ("0", "NVIDIA A100-PCIE-40GB", "535.161.08"),
        ("1", "NVIDIA A100-PCIE-40GB", "535.161.08"),
    ]
