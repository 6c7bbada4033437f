"""3FS's rendered files, held to upstream: every TOML file ffinfra writes has only keys of upstream's template of the
same service, with the same types, and every key of it; the values the spec decides are where 3FS reads them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ffinfra.analysis.toml_keys import check_against, flatten, missing_keys
from ffinfra.errors import FfinfraError
from ffinfra.render.targets import render_all
from ffinfra.render.threefs import render_threefs
from ffinfra.render.toml import dumps

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM = ROOT / "tests" / "data" / "3fs-configs"  # pinned copies, checked by sha256 in test_toml_keys.py


def toml_files(arts: list[Any]) -> dict[str, str]:
    return {a.path: a.content for a in arts if a.path.endswith(".toml")}


def upstream_of(path: str) -> str:
    """The upstream template a rendered file comes from: threefs/storage/app/st01.toml → storage_main_app.toml."""
    name = path.rsplit("/", 1)[-1]
    if "/app/" in path:
        name = {"mgmtd": "mgmtd_main", "meta": "meta_main", "storage": "storage_main"}[path.split("/")[1]] + "_app.toml"
    return (UPSTREAM / name).read_text()


@pytest.mark.parametrize("stack", ["lab", "small", "ff2", "ff2-single"])
def test_every_key_written_is_upstreams_and_every_upstream_key_is_written(compiled_stack, stack: str) -> None:
    files = toml_files(render_threefs(compiled_stack(stack).topology))
    assert len(files) >= 14
    for path, text in files.items():
        template = upstream_of(path)
        assert check_against(text, template) == [], path
        assert missing_keys(text, template) == [], path


@pytest.mark.parametrize("template", sorted(UPSTREAM.glob("*.toml")), ids=lambda p: p.name)
def test_the_toml_writer_gives_every_template_back(template: Path) -> None:
    doc = tomllib.loads(template.read_text())
    assert tomllib.loads(dumps(doc)) == doc


def _load(arts: list[Any], path: str) -> dict[str, Any]:
    return tomllib.loads(next(a.content for a in arts if a.path == path))


def _values(doc: Any, key: str, table: str | None = None, path: tuple[str, ...] = ()) -> list[Any]:
    """Every value of `key` (inside a table named `table`) anywhere in the document."""
    out: list[Any] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == key and (table is None or (path and path[-1] == table)):
                out.append(v)
            out += _values(v, key, table, (*path, k))
    elif isinstance(doc, list):
        for x in doc:
            out += _values(x, key, table, path)
    return out


def test_ff2_renders_3fs_for_all_180_storage_nodes(compiled_stack) -> None:
    topo = compiled_stack("ff2").topology
    arts = render_threefs(topo)
    apps = [a for a in arts if a.path.startswith("threefs/storage/app/")]
    assert len(apps) == 180
    st = next(a for a in apps if a.path.endswith("/stor042.toml"))
    assert tomllib.loads(st.content) == {"allow_empty_node_id": False, "node_id": 10042}
    assert st.group == "host_stor042" and st.dest == "/opt/3fs/etc/storage_main_app.toml"
    # 16 disks: 16 target paths, 16 mount units, 2 AIO threads each
    main = _load(arts, "threefs/storage/storage_main.toml")
    assert main["server"]["targets"]["target_paths"][15] == "/storage/data16/3fs"
    assert main["server"]["aio_read_worker"]["num_threads"] == 32
    assert main["server"]["buffer_pool"]["rdmabuf_count"] == 1024  # 512 GB × 8 MiB / 4 MB: upstream's value
    assert len([a for a in arts if a.path.endswith(".mount")]) == 16


def test_a_dual_homed_storage_node_serves_both_zones(compiled_stack) -> None:
    arts = render_threefs(compiled_stack("ff2").topology)
    for path in ("threefs/storage/storage_main_launcher.toml",):  # where storage_main reads [ib_devices]
        doc = _load(arts, path)
        assert _values(doc, "device_filter", "ib_devices") != []
        assert all(v == ["mlx5_0", "mlx5_1"] for v in _values(doc, "device_filter", "ib_devices"))
        for subnets in _values(doc, "subnets", "ib_devices"):
            assert subnets == [
                {"subnet": "10.2.0.0/17", "network_zones": ["z0"]},
                {"subnet": "10.2.128.0/17", "network_zones": ["z1"]},
            ]
    # mgmtd in both zones: a client of either zone reaches one
    launcher = _load(arts, "threefs/fuse/hf3fs_fuse_main_launcher.toml")
    assert launcher["mgmtd_client"]["mgmtd_server_addresses"] == ["RDMA://10.2.0.11:8000", "RDMA://10.2.128.13:8000"]
    assert launcher["mountpoint"] == "/3fs/ff2" and launcher["cluster_id"] == "ff2"


@pytest.mark.parametrize("stack", ["lab", "ff2"])
def test_every_ibsocket_uses_the_storage_traffic_class(compiled_stack, stack: str) -> None:
    topo = compiled_stack(stack).topology
    sl = topo.spec.qos.classes.storage.sl
    for path, text in toml_files(render_threefs(topo)).items():
        doc = tomllib.loads(text)
        template = tomllib.loads(upstream_of(path))
        assert len(_values(doc, "sl", "ibsocket")) == len(_values(template, "sl", "ibsocket")), path
        assert set(_values(doc, "sl", "ibsocket")) <= {sl}, path


def test_identity_foundationdb_and_monitor_are_set_everywhere(compiled_stack) -> None:
    topo = compiled_stack("small").topology
    arts = render_threefs(topo)
    for path, text in toml_files(arts).items():
        doc = tomllib.loads(text)
        assert set(_values(doc, "cluster_id")) <= {"small"}, path
        assert set(_values(doc, "clusterFile")) <= {"/opt/3fs/etc/fdb.cluster"}, path
        assert set(_values(doc, "remote_ip", "monitor_collector")) <= {"10.20.0.11:10000"}, path
    fdb = next(a.content for a in arts if a.path == "threefs/fdb.cluster").splitlines()[-1]
    assert re.fullmatch(r"small:[0-9a-f]{16}@10\.20\.0\.11:4500,10\.20\.0\.12:4500", fdb)
    ch = _load(arts, "threefs/monitor/monitor_collector_main.toml")["server"]["monitor_collector"]["reporter"]
    assert ch["clickhouse"]["port"] == "19000" and ch["clickhouse"]["db"] == "3fs"


def test_units_carry_the_guides_limits_and_wait_for_the_disks(compiled_stack) -> None:
    arts = {a.path: a for a in render_threefs(compiled_stack("small").topology)}
    storage = arts["threefs/systemd/storage_main.service"].content
    assert "LimitMEMLOCK=infinity" in storage and "LimitNOFILE=1000000" in storage and "TimeoutStopSec=5m" in storage
    assert "RequiresMountsFor=/storage/data1 /storage/data2" in storage
    assert "ExecStart=/opt/3fs/bin/storage_main --launcher_cfg /opt/3fs/etc/storage_main_launcher.toml" in storage
    mount = arts["threefs/systemd/storage-data16.mount"].content
    assert "What=/dev/disk/by-label/data16" in mount and "Where=/storage/data16" in mount
    assert "Options=noatime,nodiratime" in mount and "Type=xfs" in mount
    assert arts["threefs/systemd/storage-data16.mount"].dest == "/etc/systemd/system/storage-data16.mount"


def test_the_same_spec_renders_the_same_bytes(compiled_stack) -> None:
    topo = compiled_stack("small").topology
    assert [(a.path, a.content) for a in render_threefs(topo)] == [(a.path, a.content) for a in render_threefs(topo)]
    assert {a.path for a in render_all(topo)} >= {a.path for a in render_threefs(topo)}


def test_storage_node_ids_follow_the_names_so_a_removal_renumbers_nothing(make_stack, stack_text) -> None:
    from ffinfra.compile import compile_stack

    text = stack_text("lab").replace("st[01-02]", "st[01,03]")
    layout = compile_stack(make_stack(text)).topology.threefs
    assert layout is not None
    assert [(n.host, n.node_id) for n in layout.storage] == [("st01", 10001), ("st03", 10003)]
    assert not layout.storage_ids_by_position


def test_every_written_key_is_one_a_service_reads(compiled_stack) -> None:
    """The keys ffinfra changes from upstream's defaults, per file: what the docs list, nothing else."""
    arts = render_threefs(compiled_stack("lab").topology)
    changed: set[str] = set()
    for path, text in toml_files(arts).items():
        mine, theirs = flatten(tomllib.loads(text)), tomllib.loads(upstream_of(path))
        doc = tomllib.loads(text)
        for key in mine:
            if mine[key] not in ("table", "array of tables") and "[]" not in key:
                a, b = _get(doc, key), _get(theirs, key)
                if a != b:
                    changed.add(key.rsplit(".", 1)[-1])
    assert changed <= {
        "sl", "cluster_id", "clusterFile", "mgmtd_server_addresses", "device_filter", "subnets", "remote_ip",
        "max_concurrent_transmission", "node_id", "allow_empty_node_id", "target_paths", "num_threads",
        "rdmabuf_count", "io_jobq_size", "rdma_buf_pool_size", "mountpoint", "token_file", "db", "host", "port",
        "user", "passwd", "listen_port",
    }  # fmt: skip


def _get(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def test_the_recorded_chain_table_is_what_the_chains_grow_from(make_stack, stack_text) -> None:
    """With the table `up` recorded (stacks/<name>/threefs/chains.csv), a spec with one more storage node keeps
    every recorded chain id and renders the growth's own command files; without it, the chains are placed anew."""
    from ffinfra.compile import compile_stack
    from ffinfra.render.threefs_chains import chains_csv

    lab = compile_stack(make_stack(stack_text("lab"))).topology
    assert lab.chain_table is not None
    grown_spec = stack_text("lab").replace("st[01-02]", "st[01-03]").replace("cn[01-04]", "cn[01-03]")
    stack = make_stack(grown_spec)
    (stack.spec_path.parent / "threefs").mkdir()
    (stack.spec_path.parent / "threefs" / "chains.csv").write_text(chains_csv(lab.chain_table))
    topo = compile_stack(stack).topology
    assert topo.base_chains == lab.chain_table
    assert {c.chain_id for c in lab.chain_table.chains} <= {c.chain_id for c in topo.chain_table.chains}
    paths = {a.path for a in render_threefs(topo)}
    assert "threefs/chains/resize_create_target_cmd.txt" in paths
    (stack.spec_path.parent / "threefs" / "chains.csv").write_text("ChainId,TargetId\n1,x\n")
    with pytest.raises(FfinfraError, match=r"chains.csv: line 2: not a row of integer ids"):
        compile_stack(stack)
