"""The BMC login, resolved from the reference in provisioning.bmc: an environment variable, a 0600 file or an
Ansible Vault file. The password is held in memory only: never written, never logged (Credentials hides it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from ffinfra.apply.baremetal.bmc import Credentials
from ffinfra.errors import UserError
from ffinfra.spec.models import BmcAccessSpec

HOW = (
    "give it by reference in provisioning.bmc: password_env (an environment variable), password_file (a 0600 "
    "file) or vault_file (an Ansible Vault file holding bmc_password)"
)


def resolve(bmc: BmcAccessSpec, spec_dir: Path, env: dict[str, str] | None = None) -> Credentials:
    env = dict(os.environ) if env is None else env
    if bmc.password_env:
        value = env.get(bmc.password_env)
        if not value:
            raise UserError(f"provisioning.bmc.password_env: the environment variable {bmc.password_env} is not set")
        return Credentials(bmc.username, value)
    if bmc.password_file:
        return Credentials(bmc.username, _read_private(spec_dir / bmc.password_file, "password_file"))
    if bmc.vault_file:
        return Credentials(bmc.username, _from_vault(bmc, spec_dir, env))
    raise UserError(f"provisioning.bmc: no BMC password is given; {HOW}")


def _read_private(path: Path, field: str) -> str:
    try:
        st = path.stat()
    except OSError as exc:
        raise UserError(f"provisioning.bmc.{field}: cannot read {path}: {exc.strerror}") from None
    if st.st_mode & 0o077:
        raise UserError(
            f"provisioning.bmc.{field}: {path} is readable by others (mode {st.st_mode & 0o777:04o}); "
            f"fix with: chmod 600 {path}"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0]:
        raise UserError(f"provisioning.bmc.{field}: {path} is empty (the password is its first line)")
    return lines[0]


def _from_vault(bmc: BmcAccessSpec, spec_dir: Path, env: dict[str, str]) -> str:
    vault = spec_dir / str(bmc.vault_file)
    pw_file = bmc.vault_password_file or env.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if not pw_file:
        raise UserError(
            "provisioning.bmc.vault_file needs the vault's password: set provisioning.bmc.vault_password_file or "
            "ANSIBLE_VAULT_PASSWORD_FILE"
        )
    pw_path = spec_dir / pw_file if bmc.vault_password_file else Path(pw_file)
    cmd = [_ansible_vault(), "view", "--vault-password-file", str(pw_path), str(vault)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        # ansible-vault's stderr names the file and the reason, never the content
        raise UserError(f"provisioning.bmc.vault_file: ansible-vault could not open {vault}: {proc.stderr.strip()}")
    try:
        data = yaml.safe_load(proc.stdout)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("bmc_password"), str) or not data["bmc_password"]:
        raise UserError(f"provisioning.bmc.vault_file: {vault} holds no `bmc_password: ...` string")
    return data["bmc_password"]


def _ansible_vault() -> str:
    # the venv's ansible-vault, next to this Python, before one on PATH
    import sys

    here = Path(sys.executable).parent / "ansible-vault"
    return str(here) if here.exists() else "ansible-vault"
