"""Secrets: generated once, 0700/0600, verified host keys in ssh_config, never in logs (redaction)."""

from __future__ import annotations

import base64
import shutil
import stat
from pathlib import Path

import pytest

from ffinfra.errors import OperationalError
from ffinfra.runtime.secrets import REDACTED, Redactor, StackSecrets
from ffinfra.runtime.ssh import Endpoint

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen (openssh-client) not installed")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def secrets(tmp_path: Path) -> StackSecrets:
    s = StackSecrets(tmp_path / "secrets")
    s.ensure(["cn01", "ctl01"], "lab")
    return s


def test_generated_with_private_permissions(secrets: StackSecrets) -> None:
    assert _mode(secrets.dir) == 0o700
    for p in (secrets.operator_key, secrets.munge_key, secrets.host_key("cn01"), secrets.host_key("ctl01")):
        assert _mode(p) == 0o600, p
    assert _mode(secrets.host_key("cn01").parent) == 0o700
    assert secrets.munge_key.stat().st_size == 1024
    assert secrets.operator_pub.read_text().startswith("ssh-ed25519 ")


def test_ensure_is_idempotent(secrets: StackSecrets) -> None:
    before = secrets.operator_key.read_bytes(), secrets.munge_key.read_bytes(), secrets.host_key("cn01").read_bytes()
    assert secrets.ensure(["cn01", "ctl01"], "lab") == []
    after = secrets.operator_key.read_bytes(), secrets.munge_key.read_bytes(), secrets.host_key("cn01").read_bytes()
    assert before == after
    assert secrets.ensure(["cn01", "ctl01", "cn02"], "lab") == ["host key cn02"]


def test_host_keys_differ_per_node(secrets: StackSecrets) -> None:
    assert secrets.public_host_key("cn01") != secrets.public_host_key("ctl01")


def test_loose_permissions_are_refused(secrets: StackSecrets) -> None:
    secrets.munge_key.chmod(0o644)
    with pytest.raises(OperationalError, match="readable by others"):
        secrets.check_permissions()


def test_known_hosts_and_ssh_config_verify_host_keys(secrets: StackSecrets) -> None:
    entries = [
        Endpoint("cn01", "10.210.0.10", proxy_command="ip netns exec ff-lab-cn01 nc 127.0.0.1 22"),
        Endpoint("ctl01", "10.210.0.16", proxy_command="ip netns exec ff-lab-ctl01 nc 127.0.0.1 22"),
    ]
    secrets.write_known_hosts(entries)
    secrets.write_ssh_config(entries)
    kh = secrets.known_hosts.read_text().splitlines()
    assert kh[0] == f"cn01,10.210.0.10 {secrets.public_host_key('cn01')}"
    cfg = secrets.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in cfg
    assert f"UserKnownHostsFile {secrets.known_hosts}" in cfg
    assert "Host cn01 10.210.0.10\n" in cfg and "HostKeyAlias cn01" in cfg
    assert "ProxyCommand ip netns exec ff-lab-cn01 nc 127.0.0.1 22" in cfg
    low = cfg.lower()
    assert "stricthostkeychecking no" not in low and "/dev/null" not in low.split("globalknownhostsfile")[0]
    assert _mode(secrets.ssh_config) == 0o600 and _mode(secrets.known_hosts) == 0o600


def test_redactor_scrubs_private_keys_and_munge_key(secrets: StackSecrets) -> None:
    red = secrets.redactor()
    key = secrets.operator_key.read_text()
    munge = secrets.munge_key.read_bytes()
    text = f"before\n{key}\nb64 {base64.b64encode(munge).decode()} hex {munge.hex()} after"
    out = red(text)
    assert "PRIVATE KEY" not in out and base64.b64encode(munge).decode() not in out and munge.hex() not in out
    assert out.startswith("before") and out.endswith("after") and out.count(REDACTED) == 3


def test_redactor_leaves_ordinary_text() -> None:
    assert Redactor(["x" * 20])("ok: [cn01] => changed=0") == "ok: [cn01] => changed=0"
