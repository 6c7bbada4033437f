"""`--engine pulumi` from the command line: without the Pulumi CLI (never installable here) or without the SDK it
says what to install and changes nothing; the stack's Pulumi config is checked like a spec; and the default
engine never imports Pulumi."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffinfra.apply.pulumi import engine
from ffinfra.compile import compile_stack

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def no_cli(monkeypatch, tmp_path):
    """A machine without the Pulumi CLI: nothing on PATH, no PULUMI_HOME, an empty home."""
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", f"{bare}:/usr/bin:/bin")
    monkeypatch.delenv("PULUMI_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert engine.find_cli() is None


def files_under(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "STACK", "--engine", "pulumi"],
        ["plan", "STACK", "--engine", "pulumi"],
        ["down", "STACK", "--engine", "pulumi"],
    ],
)
def test_without_the_cli_one_error_says_how_to_install_it_and_nothing_is_written(
    argv, no_cli, cli, tmp_path, stack_text, write_stack, monkeypatch
):
    stacks = tmp_path / "proj" / "stacks"
    ref = write_stack(stacks / "lab", stack_text("lab"))
    monkeypatch.chdir(tmp_path / "proj")
    before = files_under(tmp_path / "proj")
    rc, out, err = cli(*[str(ref.dir) if a == "STACK" else a for a in argv])
    assert rc == 1
    assert err.count("error:") == 1 and "needs the Pulumi CLI" in err and "get.pulumi.com" in err
    assert "Nothing was changed" in err and "Traceback" not in err + out
    assert files_under(tmp_path / "proj") == before  # no Pulumi.yaml, no state/, no runs/, no build/


def test_without_the_sdk_the_error_names_the_extra(monkeypatch, cli):
    real = engine.importlib.util.find_spec
    monkeypatch.setattr(engine.importlib.util, "find_spec", lambda n, *a: None if n == "pulumi" else real(n, *a))
    rc, _, err = cli("up", "lab", "--engine", "pulumi")
    assert rc == 1 and "pip install 'ffinfra[pulumi]'" in err


def test_the_cli_is_found_on_path_in_pulumi_home_or_where_get_pulumi_puts_it(tmp_path):
    def binary(folder: Path) -> Path:
        (folder / "bin").mkdir(parents=True)
        b = folder / "bin" / "pulumi"
        b.write_text("#!/bin/sh\n")
        b.chmod(0o755)
        return b

    home = tmp_path / "home"
    binary(home / ".pulumi")
    found = engine.find_cli({"PATH": "/nonexistent", "HOME": str(home)})
    assert found is not None and found.root == str(home / ".pulumi")
    binary(tmp_path / "ph")
    found = engine.find_cli({"PATH": "/nonexistent", "HOME": str(home), "PULUMI_HOME": str(tmp_path / "ph")})
    assert found is not None and found.root == str(tmp_path / "ph")
    on_path = binary(tmp_path / "p")
    found = engine.find_cli({"PATH": str(on_path.parent), "HOME": str(home)})
    assert found is not None and found.root is None and found.path == on_path


def test_other_options_of_up_are_refused_with_the_pulumi_engine(cli):
    rc, _, err = cli("up", "lab", "--engine", "pulumi", "--check")
    assert rc == 1 and "--engine pulumi takes none of --check" in err
    rc, _, err = cli("up", "lab", "--engine", "terraform")
    assert rc == 1 and "ffinfra or pulumi" in err
    rc, _, err = cli("plan", "lab", "--engine", "pulumi", "--base", "HEAD~1")
    assert rc == 1 and "--base does not apply" in err


# -- stacks/<name>/Pulumi.<name>.yaml ----------------------------------------------------------------------------


def config_of(make_stack, stack_text, text: str | None):
    ref = make_stack(stack_text("lab"), name="lab")
    if text is not None:
        (ref.dir / "Pulumi.lab.yaml").write_text(text)
    return engine.load_config(compile_stack(ref))


def test_a_stack_without_pulumi_config_takes_the_defaults(make_stack, stack_text):
    cfg = config_of(make_stack, stack_text, None)
    assert (cfg.provider, cfg.backend, cfg.parallel) == (None, None, engine.DEFAULT_PARALLEL)
    assert cfg.path.name == "Pulumi.lab.yaml"


def test_the_stack_config_gives_provider_backend_and_parallelism(make_stack, stack_text):
    cfg = config_of(
        make_stack,
        stack_text,
        "encryptionsalt: v1:abc\nconfig:\n  ffinfra:provider: baremetal\n  ffinfra:parallel: '8'\n"
        "  ffinfra:backend: s3://bucket/ffinfra\n  aws:region: eu-west-1\n",
    )
    assert (cfg.provider, cfg.backend, cfg.parallel) == ("baremetal", "s3://bucket/ffinfra", 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config:\n  ffinfra:provider: docker\n", "config.ffinfra:provider: 'docker' is not a provider"),
        ("config:\n  ffinfra:parallell: 2\n", "config.ffinfra:parallell: unknown key"),
        ("config:\n  ffinfra:parallel: 0\n", "config.ffinfra:parallel: a whole number"),
        ("config: [a]\n", "config: a mapping"),
        ("config:\n  ffinfra:provider: [\n", "Pulumi.lab.yaml:3:1: error[pulumi-config] not valid YAML"),
    ],
)
def test_a_bad_stack_config_is_an_error_at_its_key(make_stack, stack_text, text, message):
    from ffinfra.errors import UserError

    with pytest.raises(UserError) as exc:
        config_of(make_stack, stack_text, text)
    assert message in str(exc.value) and "Pulumi.lab.yaml" in str(exc.value)


def test_the_default_backend_is_a_file_backend_in_the_stack_state(make_stack, stack_text):
    ref = make_stack(stack_text("lab"), name="lab")
    c = compile_stack(ref)
    url = engine.backend_url(c, engine.load_config(c))
    assert url == (ref.dir / "state" / "pulumi").resolve().as_uri()


# -- the default path ------------------------------------------------------------------------------------------


def test_the_default_engine_runs_without_pulumi_importable():
    """Pulumi made unimportable: up --dry-run, plan and every module but the engine's program still work, and
    none of them imported Pulumi."""
    code = (
        "import sys, importlib, pkgutil\n"
        "sys.modules['pulumi'] = None\n"
        "import ffinfra\n"
        "skip = ('ffinfra.apply.pulumi.program', 'ffinfra.apply.pulumi.resources')\n"
        "for m in pkgutil.walk_packages(ffinfra.__path__, 'ffinfra.'):\n"
        "    if m.name not in skip: importlib.import_module(m.name)\n"
        "from ffinfra.cli.app import main\n"
        "sys.argv = ['ffinfra', 'up', 'lab', '--dry-run']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('ok')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout.endswith("ok\n"), r.stdout[-2000:] + r.stderr[-2000:]


# -- what `up --engine pulumi` refuses before Pulumi runs --------------------------------------------------------


def plan_between(tmp_path, stack_text, write_stack, old: str, new: str, **kw):
    from ffinfra.plan.plan import build_plan

    text = stack_text("lab")
    assert text.count(old) == 1
    a = compile_stack(write_stack(tmp_path / "a" / "lab", text))
    b = compile_stack(write_stack(tmp_path / "b" / "lab", text.replace(old, new)))
    return build_plan(a, b, "applied (Pulumi)", "new", **kw)


def test_a_stack_pulumi_never_applied_has_no_plan_to_refuse():
    assert engine.refusal(None, all_at_once=False) == ""


def test_a_hot_reload_runs(tmp_path, stack_text, write_stack):
    plan = plan_between(tmp_path, stack_text, write_stack, "default: true}", "default: true, max_time: '1-00:00:00'}")
    assert plan.changed and engine.refusal(plan, all_at_once=False) == ""


def test_a_destructive_change_is_refused_before_pulumi_unless_allowed(tmp_path, stack_text, write_stack):
    edit = ("  slurm:\n    partitions", "  slurm:\n    cluster_name: other\n    partitions")
    plan = plan_between(tmp_path, stack_text, write_stack, *edit)
    assert "the plan is refused" in engine.refusal(plan, all_at_once=True)
    allowed = plan_between(tmp_path / "x", stack_text, write_stack, *edit, allow_destructive=True)
    assert "the plan is refused" not in engine.refusal(allowed, all_at_once=True)


def test_a_rolling_change_needs_all_at_once(tmp_path, stack_text, write_stack):
    plan = plan_between(tmp_path, stack_text, write_stack, "memory_gb: 2", "memory_gb: 4")
    assert plan.batches is not None and plan.batches.batches
    assert "--all-at-once" in engine.refusal(plan, all_at_once=False)
    assert engine.refusal(plan, all_at_once=True) == ""


def test_every_shipped_pulumi_config_loads(compiled_stack):
    shipped = sorted((ROOT / "stacks").glob("*/Pulumi.*.yaml"))
    assert shipped, "stacks/metal/Pulumi.metal.yaml is the example docs/pulumi.md points at"
    for path in shipped:
        name = path.parent.name
        assert path.name == f"Pulumi.{name}.yaml"
        cfg = engine.load_config(compiled_stack(name))
        assert cfg.path == path and cfg.provider in ("lab", "baremetal")
