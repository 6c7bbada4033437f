"""The BMC password comes by reference only: an environment variable, a 0600 file or an Ansible Vault file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffinfra.apply.baremetal.credentials import resolve
from ffinfra.errors import UserError
from ffinfra.spec.models import BmcAccessSpec


def test_from_the_environment(tmp_path: Path) -> None:
    creds = resolve(BmcAccessSpec(password_env="BMC_PW"), tmp_path, {"BMC_PW": "s3cret-pw"})
    assert (creds.username, creds.password) == ("admin", "s3cret-pw")
    assert "s3cret-pw" not in repr(creds) and "s3cret-pw" not in str(creds)


def test_an_unset_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="environment variable BMC_PW is not set"):
        resolve(BmcAccessSpec(password_env="BMC_PW"), tmp_path, {})


def test_from_a_private_file_relative_to_the_spec(tmp_path: Path) -> None:
    f = tmp_path / "bmc.pw"
    f.write_text("pw-from-file\n")
    f.chmod(0o600)
    assert resolve(BmcAccessSpec(password_file="bmc.pw"), tmp_path, {}).password == "pw-from-file"
    f.chmod(0o644)
    with pytest.raises(UserError, match=r"readable by others \(mode 0644\); fix with: chmod 600"):
        resolve(BmcAccessSpec(password_file="bmc.pw"), tmp_path, {})


def test_no_reference_at_all_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no BMC password is given; give it by reference"):
        resolve(BmcAccessSpec(), tmp_path, {})


def test_two_references_are_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match="give the BMC password one way, not password_env and password_file"):
        BmcAccessSpec(password_env="X", password_file="f")


def test_from_an_ansible_vault_file(tmp_path: Path) -> None:
    vault_bin = Path(sys.executable).parent / "ansible-vault"
    if not vault_bin.exists():
        pytest.skip("ansible-vault is not in the venv (scripts/setup.sh --test installs ansible-core)")
    (tmp_path / "vault.pw").write_text("vault-password\n")
    secret = tmp_path / "bmc.vault"
    secret.write_text("bmc_password: pw-from-vault\n")
    subprocess.run(
        [str(vault_bin), "encrypt", "--vault-password-file", str(tmp_path / "vault.pw"), str(secret)],
        check=True,
        capture_output=True,
    )
    assert "pw-from-vault" not in secret.read_text()  # encrypted at rest
    access = BmcAccessSpec(vault_file="bmc.vault", vault_password_file="vault.pw")
    assert resolve(access, tmp_path, {}).password == "pw-from-vault"
    (tmp_path / "vault.pw").write_text("wrong\n")
    with pytest.raises(UserError, match="ansible-vault could not open"):
        resolve(access, tmp_path, {})
