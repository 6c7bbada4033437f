"""3FS's files: every service's configs, admin_cli's, the FoundationDB cluster file, systemd units, the target disks'
mount units, the monitor schema and the chain files. All from topology/threefs.py's decisions.

Each TOML file is upstream's template (templates/threefs/upstream/, pinned to the commit the build uses) parsed,
given the values ffinfra decides, and written back whole: every key 3FS expects is there, with upstream's default
unless set here, and tests check every written key against the template's keys and types.

What ffinfra sets, and where:
    every file       cluster_id; each `clusterFile` → the FoundationDB cluster file; each `mgmtd_server_addresses`;
                     each `ibsocket.sl` → the storage traffic class's SL (qos.classes.storage.sl); each
                     `ib_devices` → the HCAs of the hosts that read it and `subnets` (IPoIB CIDR → fabric zone), so
                     a storage node with a NIC in each zone serves both; each monitor reporter's `remote_ip`;
                     each `rdma_control.max_concurrent_transmission`
    *_app.toml       node_id (per host)
    storage_main     target_paths, AIO read and write threads, RDMA buffer count
    hf3fs_fuse_main  I/O job queue, RDMA buffer pool; its launcher: mountpoint and token file
    monitor          the ClickHouse connection and listen port

3FS's services take their *_main.toml from mgmtd (`admin_cli set-config`), one per service type, so those are
cluster-wide; the launchers and app files are read locally.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render, templates_dir
from ffinfra.render.threefs_chains import chain_files, resize_files
from ffinfra.render.threefs_monitor import monitor_schema
from ffinfra.render.toml import dumps
from ffinfra.topology.model import Topology
from ffinfra.topology.services import host_group
from ffinfra.topology.threefs import BIN_DIR, ETC_DIR, ThreeFsLayout

FDB_CLUSTER = f"{ETC_DIR}/fdb.cluster"
TOKEN_FILE = f"{ETC_DIR}/token.txt"
CHAINS_DIR = f"{ETC_DIR}/chains"
UNIT_DIR = "/etc/systemd/system"
CLICKHOUSE_HOST = "127.0.0.1"  # ClickHouse runs beside monitor_collector (storage.threefs.monitor.host)

# service → (its binary, which is also the stem of its config files <binary>.toml, _launcher.toml, _app.toml;
# the role that installs it). mgmtd, meta and storage have node ids (a per-node app file); the FUSE client has not.
SERVICES: dict[str, tuple[str, str]] = {
    "mgmtd": ("mgmtd_main", "threefs_mgmtd"),
    "meta": ("meta_main", "threefs_meta"),
    "storage": ("storage_main", "threefs_storage"),
    "fuse": ("hf3fs_fuse_main", "threefs_fuse"),
}
MONITOR = "monitor_collector_main"
COMMON_ROLE = ("threefs_common",)


@lru_cache(maxsize=32)
def _template_text(name: str) -> str:
    return (templates_dir() / "threefs" / "upstream" / name).read_text()


def template(name: str) -> dict[str, Any]:
    """A fresh parse of upstream's template `name` (e.g. storage_main.toml): the caller may change it."""
    return tomllib.loads(_template_text(name))


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a key that upstream's template has (a KeyError here is a template/renderer mismatch, caught by tests)."""
    *parents, last = dotted.split(".")
    node = doc
    for p in parents:
        node = node[p]
    if last not in node:
        raise KeyError(f"{dotted}: not in the upstream template")
    node[last] = value


def set_everywhere(doc: Any, match: Callable[[tuple[str, ...]], bool], value: Any, path: tuple[str, ...] = ()) -> int:
    """Set every key whose path (table names and the key) `match`es; returns how many were set."""
    n = 0
    if isinstance(doc, dict):
        for k in list(doc):
            here = (*path, k)
            if not isinstance(doc[k], (dict, list)) or (isinstance(doc[k], list) and not _tables(doc[k])):
                if match(here):
                    doc[k] = copy.deepcopy(value)
                    n += 1
            else:
                n += set_everywhere(doc[k], match, value, here)
    elif isinstance(doc, list):
        for element in doc:
            n += set_everywhere(element, match, value, path)
    return n


def _tables(v: list[Any]) -> bool:
    return bool(v) and all(isinstance(x, dict) for x in v)


def _key(name: str, table: str | None = None) -> Callable[[tuple[str, ...]], bool]:
    return lambda p: p[-1] == name and (table is None or (len(p) > 1 and p[-2] == table))


def _common(doc: dict[str, Any], topo: Topology, layout: ThreeFsLayout, nics: list[str]) -> None:
    """What every 3FS file gets: identity, FoundationDB, mgmtd, the fabric (SL, devices, zones), the monitor."""
    set_everywhere(doc, _key("cluster_id"), layout.cluster_id)
    set_everywhere(doc, _key("clusterFile"), FDB_CLUSTER)
    set_everywhere(doc, _key("mgmtd_server_addresses"), list(layout.mgmtd_addresses))
    set_everywhere(doc, _key("sl", "ibsocket"), topo.spec.qos.classes.storage.sl)
    set_everywhere(doc, _key("device_filter", "ib_devices"), nics)
    subnets = [{"subnet": cidr, "network_zones": list(zones)} for cidr, zones in layout.zone_subnets]
    set_everywhere(doc, _key("subnets", "ib_devices"), subnets)
    set_everywhere(doc, _key("remote_ip", "monitor_collector"), layout.monitor_address)
    set_everywhere(doc, _key("max_concurrent_transmission", "rdma_control"), layout.tuning.rdma_send_concurrency)


def _nics(topo: Topology, hosts: list[str]) -> list[str]:
    """The HCAs the hosts that read a file have (device_filter: every one of them, not the Ethernet NICs)."""
    return sorted({p.nic for h in hosts for p in topo.host_by_name[h].ports})


def service_main(topo: Topology, layout: ThreeFsLayout, service: str) -> dict[str, str]:
    """service → {file name: content} for its cluster-wide files (*_main.toml, *_main_launcher.toml)."""
    stem = SERVICES[service][0]
    hosts = _service_hosts(layout, service)
    nics = _nics(topo, hosts)
    main = template(f"{stem}.toml")
    launcher = template(f"{stem}_launcher.toml")
    for doc in (main, launcher):
        _common(doc, topo, layout, nics)
    t = layout.tuning
    if service == "storage":
        set_path(main, "server.targets.target_paths", [d.target_path for d in layout.disks])
        set_path(main, "server.aio_read_worker.num_threads", t.aio_read_threads)
        set_path(main, "server.storage.write_worker.num_threads", t.write_threads)
        set_path(main, "server.buffer_pool.rdmabuf_count", t.rdmabuf_count)
    elif service == "fuse":
        set_path(main, "io_jobq_size", t.fuse_io_queue)
        set_path(main, "rdma_buf_pool_size", t.fuse_rdma_buffers)
        set_path(launcher, "mountpoint", layout.mountpoint)
        set_path(launcher, "token_file", TOKEN_FILE)
    return {f"{stem}.toml": dumps(main), f"{stem}_launcher.toml": dumps(launcher)}


def _service_hosts(layout: ThreeFsLayout, service: str) -> list[str]:
    if service == "fuse":
        return list(layout.fuse)
    return [n.host for n in getattr(layout, service)]


def app_file(service: str, node_id: int) -> str:
    doc = template(f"{SERVICES[service][0]}_app.toml")
    set_path(doc, "node_id", node_id)
    set_path(doc, "allow_empty_node_id", False)  # a node without its id must not start
    return dumps(doc)


def admin_cli(topo: Topology, layout: ThreeFsLayout) -> str:
    doc = template("admin_cli.toml")
    _common(doc, topo, layout, _nics(topo, list(layout.ports)))
    return dumps(doc)


def monitor_collector(topo: Topology, layout: ThreeFsLayout) -> str:
    m = topo.spec.storage.threefs.monitor
    doc = template(f"{MONITOR}.toml")
    _common(doc, topo, layout, _nics(topo, [layout.monitor]))
    set_everywhere(doc, _key("listen_port", "listener"), m.port)
    ch = "server.monitor_collector.reporter.clickhouse"
    set_path(doc, f"{ch}.db", m.db)
    set_path(doc, f"{ch}.host", CLICKHOUSE_HOST)
    set_path(doc, f"{ch}.port", str(m.clickhouse_port))  # a string in upstream's schema
    set_path(doc, f"{ch}.user", "default")
    set_path(doc, f"{ch}.passwd", "")  # ClickHouse listens on loopback only (the monitor role's config)
    return dumps(doc)


def _unit(topo: Topology, layout: ThreeFsLayout, service: str) -> str:
    binary = MONITOR if service == "monitor" else SERVICES[service][0]
    # upstream's units: the collector takes one config; the servers a launcher and an app file; FUSE a launcher
    if service == "monitor":
        args = f"--cfg {ETC_DIR}/{binary}.toml"
    else:
        args = f"--launcher_cfg {ETC_DIR}/{binary}_launcher.toml"
        if service != "fuse":
            args += f" --app-cfg {ETC_DIR}/{binary}_app.toml"
    return render(
        "threefs/service.j2",
        header=header("#", topo.name),
        service=service,
        binary=binary,
        cluster_id=layout.cluster_id,
        after=["foundationdb.service"] if service in ("mgmtd", "meta") else [],
        mounts=[d.mount for d in layout.disks] if service == "storage" else [],
        exec_start=f"{BIN_DIR}/{binary} {args}",
        nofile=1_000_000 if service != "monitor" else 0,
        rdma=service != "monitor",  # the collector speaks TCP only
        stop_timeout="5m" if service == "storage" else "",
    )


def render_threefs(topo: Topology) -> list[Artifact]:
    layout = topo.threefs
    if layout is None:
        return []
    out: list[Artifact] = []

    def add(path: str, content: str, dest: str, roles: tuple[str, ...], group: str = "all", mode: int = 0o644) -> None:
        out.append(Artifact(f"threefs/{path}", content, "threefs", dest, roles, group, mode))

    fdb = f"{header('#', topo.name)}\n{layout.fdb_cluster}\n"
    # FoundationDB reads only the first line that is not a comment: the header stays
    add("fdb.cluster", fdb, FDB_CLUSTER, COMMON_ROLE)
    add("fdb/fdb.cluster", fdb, "/etc/foundationdb/fdb.cluster", ("fdb",))
    add("admin_cli.toml", admin_cli(topo, layout), f"{ETC_DIR}/admin_cli.toml", COMMON_ROLE)
    for service, (stem, role) in SERVICES.items():
        for name, text in service_main(topo, layout, service).items():
            add(f"{service}/{name}", text, f"{ETC_DIR}/{name}", (role,))
        if service == "fuse":
            # upstream's FUSE app file is empty: a client has no node id
            add(
                f"{service}/{stem}_app.toml", dumps(template(f"{stem}_app.toml")), f"{ETC_DIR}/{stem}_app.toml", (role,)
            )
        else:
            for n in getattr(layout, service):
                add(
                    f"{service}/app/{n.host}.toml",
                    app_file(service, n.node_id),
                    f"{ETC_DIR}/{stem}_app.toml",
                    (role,),
                    host_group(n.host),
                )
        add(f"systemd/{stem}.service", _unit(topo, layout, service), f"{UNIT_DIR}/{stem}.service", (role,))
    add(f"monitor/{MONITOR}.toml", monitor_collector(topo, layout), f"{ETC_DIR}/{MONITOR}.toml", ("threefs_monitor",))
    add(f"systemd/{MONITOR}.service", _unit(topo, layout, "monitor"), f"{UNIT_DIR}/{MONITOR}.service",
        ("threefs_monitor",))  # fmt: skip
    m = topo.spec.storage.threefs.monitor
    add("monitor/3fs-monitor.sql", monitor_schema(topo.name, m.db, m.retention_months), f"{ETC_DIR}/3fs-monitor.sql",
        ("threefs_monitor",))  # fmt: skip
    for d in layout.disks:
        mount = render("threefs/mount.j2", header=header("#", topo.name), disk=d, before="storage_main.service")
        add(f"systemd/{d.mount_unit}", mount, f"{UNIT_DIR}/{d.mount_unit}", ("threefs_storage",))
    table = topo.chain_table
    if table is not None:
        for name, text in chain_files(table).items():
            add(f"chains/{name}", text, f"{CHAINS_DIR}/{name}", ("threefs_bootstrap",))
    if topo.base_chains is not None and topo.chain_resize is not None:
        # a growth or shrink: the steps' own files (ffinfra plan lists the steps)
        for name, text in resize_files(topo.base_chains, topo.chain_resize).items():
            add(f"chains/{name}", text, f"{CHAINS_DIR}/{name}", ("threefs_bootstrap",))
    return out
