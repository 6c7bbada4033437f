"""The stateless node image for bare-metal network boot: a Debian kernel and an initramfs that runs from RAM.

The initramfs is small and self-contained: busybox-static (shell, init, udhcpc, wget, modprobe), the NIC drivers
the recipe names plus what they depend on, dropbear (key-only SSH) with its shared libraries, and node_init.sh as
/init, which follows the boot contract (shared/reference/baremetal-probe.md, the provider's design notes): DHCP,
fetch the node's hostname and keys from the provisioning server, start dropbear, report back, stay up.

Everything comes from Debian packages fetched with `apt-get download` into a cache and unpacked with `dpkg -x`.
The initramfs is written by this module itself (cpio newc, sorted, owner root, mtime 0, gzip without name or
time), so the same recipe and package versions give byte-identical files; the digest of those inputs
(`ImageRecipe.key`) names the image and is baked into it as /etc/ffinfra-image.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from ffinfra.atomic import write_atomic
from ffinfra.errors import OperationalError

# bump whenever the assembly below changes what lands in the image for the same recipe and packages
FORMAT = 1
NODE_INIT = Path(__file__).with_name("node_init.sh")
KERNEL_METAPACKAGE = "linux-image-amd64"
BUSYBOX = "busybox-static"
DROPBEAR = "dropbear-bin"
# dropbear's shared libraries come from their Debian packages, not from the building host (`ldd` + copy would be
# simpler): the image then depends only on package versions the digest records, so a host whose libc was
# upgraded cannot change an image whose digest stayed the same, and the manifest names every binary's source.
# The list is checked at build time: a library dropbear needs that none of these packages carries is an error.
DROPBEAR_LIBS = ("libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10", "zlib1g")
# the QEMU machines' e1000 plus the usual server NICs (Intel, Broadcom, Mellanox); virtio_net needs virtio_pci to
# see a device at all. No firmware is carried (ice, bnxt_en run with what the NIC's flash holds).
DEFAULT_NIC_MODULES = (
    "e1000", "e1000e", "igb", "ixgbe", "ice", "i40e", "bnxt_en", "mlx5_core", "virtio_pci", "virtio_net",
)  # fmt: skip
LIBDIR = "lib/x86_64-linux-gnu"
INTERPRETER = "lib64/ld-linux-x86-64.so.2"  # the amd64 ABI's fixed path of the dynamic loader
INITTAB = """\
# busybox init (PID 1): node_init.sh's roles, see its header
::sysinit:/init boot
::respawn:/init sshd
::once:/init report
::shutdown:/init shutdown
"""
ETC_FILES = {
    # dropbear refuses an empty password field; "x" points at shadow, where "*" matches no password at all
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/shadow": "root:*:0:0:99999:7:::\n",
    "etc/group": "root:x:0:\n",
    "etc/shells": "/bin/sh\n",  # dropbear only logs in users whose shell is listed here
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
    "etc/inittab": INITTAB,
}

OnProgress = Callable[[str], None]
IMAGE_FILES = ("vmlinuz", "initrd.img")


class ImageFile(TypedDict):
    sha256: str
    size: int


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into a node image. kernel_package None: whatever linux-image-amd64 depends on now. The image
    carries nic_modules and extra_modules (a stack's own, e.g. a RAID driver) with their dependencies, and loads
    them all at boot."""

    kernel_package: str | None = None
    nic_modules: tuple[str, ...] = DEFAULT_NIC_MODULES
    extra_modules: tuple[str, ...] = ()

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module the image loads at boot, in order, once each."""
        return tuple(dict.fromkeys((*self.nic_modules, *self.extra_modules)))

    def key(self, packages: Mapping[str, str]) -> str:
        """The image digest: this recipe, the resolved package versions (name → version), the /init script and
        the assembly format. Equal keys give byte-identical images."""
        doc = {
            "format": FORMAT,
            "kernel_package": self.kernel_package,
            "modules": list(self.modules),
            "packages": dict(sorted(packages.items())),
            "init": hashlib.sha256(NODE_INIT.read_bytes()).hexdigest(),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ImageManifest:
    """out_dir/manifest.json: what an image is made of, and the checksums of its two files."""

    digest: str
    kernel_release: str  # `uname -r` on the booted node
    packages: dict[str, str] = field(default_factory=dict)  # Debian package → version
    files: dict[str, ImageFile] = field(default_factory=dict)  # vmlinuz, initrd.img → sha256, size

    def to_json(self) -> str:
        doc = {"digest": self.digest, "kernel_release": self.kernel_release, "packages": self.packages}
        return json.dumps({**doc, "files": self.files}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ImageManifest:
        d = json.loads(text)
        return cls(d["digest"], d["kernel_release"], dict(d["packages"]), dict(d["files"]))


@dataclass(frozen=True)
class _Package:
    name: str
    version: str
    arch: str
    sha256: str

    @property
    def filename(self) -> str:  # how apt-get download names it
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def build_image(
    recipe: ImageRecipe, out_dir: Path, cache_dir: Path, on_progress: OnProgress | None = None
) -> ImageManifest:
    """Build (or find up to date) the image in out_dir: vmlinuz, initrd.img, manifest.json. Packages are
    downloaded into cache_dir once and reused while apt's candidate versions stay the same."""
    say = on_progress or (lambda _msg: None)
    pkgs = _resolve(recipe)
    digest = recipe.key({p.name: p.version for p in pkgs})
    current = _current(out_dir, digest)
    if current is not None:
        say(f"node image {digest[:12]} is up to date in {out_dir}")
        return current
    debs = _download(pkgs, cache_dir, say)
    say(f"assembling node image {digest[:12]} (kernel {pkgs[0].name} {pkgs[0].version})")
    with tempfile.TemporaryDirectory(prefix="ffinfra-image-") as tmp:
        root = Path(tmp)
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
        vmlinuz, release, entries = _assemble(recipe, pkgs[0].name, root, digest)
    initrd = _cpio_gz(entries)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, ImageFile] = {}
    for name, data in zip(IMAGE_FILES, (vmlinuz, initrd), strict=True):
        write_atomic(out_dir / name, data, durable=False)
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest = ImageManifest(digest, release, {p.name: p.version for p in pkgs}, files)
    write_atomic(out_dir / "manifest.json", manifest.to_json(), durable=False)  # last: it vouches for the rest
    say(f"node image {digest[:12]} written to {out_dir} (initrd {len(initrd) / 1e6:.1f} MB)")
    return manifest


def _current(out_dir: Path, digest: str) -> ImageManifest | None:
    """The manifest in out_dir if it is for this digest and both files still match it."""
    try:
        m = ImageManifest.from_json((out_dir / "manifest.json").read_text(encoding="utf-8"))
        if m.digest != digest or set(m.files) != set(IMAGE_FILES):
            return None
        for name, f in m.files.items():
            if hashlib.sha256((out_dir / name).read_bytes()).hexdigest() != f["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return m


# --- packages -------------------------------------------------------------------------------------------------


def _run(argv: list[str], what: str, cwd: Path | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise OperationalError(
            f"building the node image needs {argv[0]} (for {what}), which is not installed: build it on a Debian "
            "or Ubuntu host with apt and dpkg (scripts/setup.sh --test installs the rest)"
        )
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise OperationalError(f"{what} failed ({' '.join(argv)}): {(r.stderr or r.stdout).strip()[-800:]}")
    return r.stdout


def _records(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """apt's candidate record (Version, Architecture, SHA256, Depends) for each name it knows."""
    out = _run(["apt-cache", "show", "--no-all-versions", *names], "looking packages up with apt-cache")
    records: dict[str, dict[str, str]] = {}
    for block in out.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        if "Package" in fields:
            records.setdefault(fields["Package"], fields)
    return records


def _missing(names: Iterable[str]) -> OperationalError:
    return OperationalError(
        f"apt knows no package {', '.join(names)}: check the image recipe's kernel_package, and that the host's "
        "apt sources carry Debian main (then `apt-get update`)"
    )


def _resolve(recipe: ImageRecipe) -> list[_Package]:
    """The packages the image is made of, at apt's candidate versions now; the kernel first."""
    kernel = recipe.kernel_package
    if kernel is None:
        meta = _records([KERNEL_METAPACKAGE]).get(KERNEL_METAPACKAGE)
        if meta is None:
            raise _missing([KERNEL_METAPACKAGE])
        # "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)": the ABI package it pulls in today
        kernel = meta.get("Depends", "").split(",")[0].split()[0] if meta.get("Depends") else ""
        if not kernel.startswith("linux-image-"):
            raise OperationalError(f"{KERNEL_METAPACKAGE} depends on no kernel image ({meta.get('Depends')!r})")
    names = [kernel, BUSYBOX, DROPBEAR, *DROPBEAR_LIBS]
    records = _records(names)
    if missing := [n for n in names if n not in records]:
        raise _missing(missing)
    return [_Package(n, records[n]["Version"], records[n]["Architecture"], records[n].get("SHA256", "")) for n in names]


def _download(pkgs: list[_Package], cache_dir: Path, say: OnProgress) -> list[Path]:
    """Each package's .deb in cache_dir, fetched with apt-get download unless an intact one is there already
    (checked against the SHA256 in apt's index)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    if fetch := [p for p in pkgs if not _intact(cache_dir / p.filename, p)]:
        names = ", ".join(p.name for p in fetch)
        say(f"downloading {names} into {cache_dir}")
        # the sandbox option only silences apt's warning that its _apt user cannot write a root-owned cache
        _run(
            ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *(f"{p.name}={p.version}" for p in fetch)],
            f"downloading {names} (check this host's network and apt sources)",
            cwd=cache_dir,
        )
        if bad := [p.filename for p in fetch if not _intact(cache_dir / p.filename, p)]:
            raise OperationalError(f"apt-get download left no intact {', '.join(bad)} in {cache_dir}")
    return [cache_dir / p.filename for p in pkgs]


def _intact(deb: Path, p: _Package) -> bool:
    if not deb.is_file():
        return False
    if not p.sha256:
        return True
    h = hashlib.sha256()
    with deb.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == p.sha256


# --- assembly -------------------------------------------------------------------------------------------------

# an initramfs entry: (mode incl. file type, content for files / target for symlinks, device numbers)
Entry = tuple[int, bytes, tuple[int, int]]
DIR, FILE, LINK, CHR = 0o040000, 0o100000, 0o120000, 0o020000


def _assemble(recipe: ImageRecipe, kernel: str, root: Path, digest: str) -> tuple[bytes, str, dict[str, Entry]]:
    """vmlinuz, the kernel release, and the initramfs as path → entry, from the unpacked packages in root."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise OperationalError(
            f"kernel package {kernel} holds {len(kernels)} /boot/vmlinuz-*, not one: name a kernel image package "
            "(linux-image-RELEASE, e.g. linux-image-6.1.0-41-amd64) as the image's kernel_package, not a metapackage"
        )
    release = kernels[0].name.removeprefix("vmlinuz-")
    e: dict[str, Entry] = {}

    def add_file(path: str, data: bytes, mode: int = 0o644) -> None:
        e[path] = (FILE | mode, data, (0, 0))

    for d, mode in (("dev", 0o755), ("proc", 0o555), ("sys", 0o555), ("run", 0o755), ("tmp", 0o1777),
                    ("root", 0o700), ("etc/dropbear", 0o700), ("usr/bin", 0o755), (LIBDIR, 0o755)):  # fmt: skip
        e[d] = (DIR | mode, b"", (0, 0))
    e["dev/console"] = (CHR | 0o600, b"", (5, 1))  # the kernel opens it for /init before devtmpfs is mounted
    e["dev/null"] = (CHR | 0o666, b"", (1, 3))
    # one bin directory (merged /usr), so every applet is on any PATH dropbear or init hands a shell
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/bin"), ("usr/sbin", "bin"), ("var/run", "../run")):
        e[link] = (LINK | 0o777, target.encode(), (0, 0))
    add_file("init", NODE_INIT.read_bytes(), 0o755)
    busybox = root / "bin" / "busybox"
    add_file("usr/bin/busybox", busybox.read_bytes(), 0o755)
    applets = _run([str(busybox), "--list"], "listing busybox's applets").split()
    for applet in (a for a in applets if a != "busybox"):
        e[f"usr/bin/{applet}"] = (LINK | 0o777, b"busybox", (0, 0))
    dropbear = root / "usr" / "sbin" / "dropbear"
    add_file("usr/bin/dropbear", dropbear.read_bytes(), 0o755)
    for soname, data in _libraries(root, dropbear.read_bytes()).items():
        add_file(f"{LIBDIR}/{soname}", data, 0o755)
    e[INTERPRETER] = (LINK | 0o777, f"/{LIBDIR}/ld-linux-x86-64.so.2".encode(), (0, 0))
    for path, text in ETC_FILES.items():
        add_file(path, text.encode(), 0o600 if path == "etc/shadow" else 0o644)
    add_file("etc/ffinfra-image", f"{digest}\n".encode())
    add_file("etc/ffinfra-modules", "".join(f"{m}\n" for m in recipe.modules).encode())
    for path, data in _modules(root / "lib" / "modules" / release, recipe.modules).items():
        add_file(f"lib/modules/{release}/{path}", data)
    for path in list(e):  # every parent directory, explicitly: the archive must not depend on unpacking order
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            e.setdefault("/".join(parts[:i]), (DIR | 0o755, b"", (0, 0)))
    return kernels[0].read_bytes(), release, e


def _modules(moddir: Path, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The wanted modules and everything they depend on (path under moddir → bytes), plus a modules.dep for them.
    The kernel package ships no modules.dep (its postinst runs depmod, which this host need not have), so the
    dependencies come from each module's own `depends=`, which is what depmod reads too. A .ko.xz is unpacked so
    that busybox modprobe needs no xz support."""
    index = {ko.name.split(".ko")[0].replace("-", "_"): ko for ko in moddir.rglob("*.ko*")}
    blobs: dict[str, bytes] = {}
    deps: dict[str, list[str]] = {}
    order: list[str] = []  # each module after everything it depends on

    def visit(name: str, wanted_by: str | None) -> None:
        key = name.replace("-", "_")
        if key in deps:
            return
        if key not in index:
            by = f" (needed by {wanted_by})" if wanted_by else ""
            raise OperationalError(
                f"kernel modules of {moddir.name} have no {name}{by}: remove it from the image's modules"
            )
        blobs[key] = _module_bytes(index[key])
        deps[key] = [d.replace("-", "_") for d in _modinfo(blobs[key]).get("depends", "").split(",") if d]
        for d in deps[key]:
            visit(d, name)
        order.append(key)

    for m in wanted:
        visit(m, None)

    def rel(key: str) -> str:
        return str(index[key].relative_to(moddir)).removesuffix(".xz")

    def closure(key: str) -> set[str]:
        return {c for d in deps[key] for c in (d, *closure(d))}

    # depmod's format: a module, then its whole dependency closure, users before what they use: modprobe loads
    # the list from its end backwards
    lines = []
    for k in sorted(order, key=rel):
        need = closure(k)
        lines.append(" ".join([f"{rel(k)}:", *(rel(d) for d in reversed(order) if d in need)]) + "\n")
    return {**{rel(k): blobs[k] for k in order}, "modules.dep": "".join(lines).encode()}


def _module_bytes(path: Path) -> bytes:
    if path.name.endswith(".ko"):
        return path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(path.read_bytes())
    raise OperationalError(f"kernel module {path.name}: only .ko and .ko.xz are supported")


# --- ELF: a module's .modinfo, a program's DT_NEEDED ----------------------------------------------------------------


def _sections(data: bytes) -> list[tuple[str, int, int, int, int]]:
    """(name, type, link, offset, size) of each section of a little-endian ELF64 file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise OperationalError("not a little-endian 64-bit ELF file (the image is amd64 only)")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_off = raw[shstrndx][4]

    def name(off: int) -> str:
        start = names_off + off
        return data[start : data.index(b"\0", start)].decode()

    return [(name(s[0]), s[1], s[6], s[4], s[5]) for s in raw]


def _modinfo(data: bytes) -> dict[str, str]:
    for name, _type, _link, off, size in _sections(data):
        if name == ".modinfo":
            pairs = (f.decode(errors="replace").split("=", 1) for f in data[off : off + size].split(b"\0") if b"=" in f)
            return {k: v for k, v in pairs}
    return {}


def _needed(data: bytes) -> list[str]:
    """The sonames an ELF program or library links against (DT_NEEDED)."""
    secs = _sections(data)
    out = []
    for _name, typ, link, off, size in secs:
        if typ == 6:  # SHT_DYNAMIC; its sh_link is the string table the entries point into
            stroff = secs[link][3]
            for i in range(0, size, 16):
                tag, val = struct.unpack_from("<qQ", data, off + i)
                if tag == 1:  # DT_NEEDED
                    out.append(data[stroff + val : data.index(b"\0", stroff + val)].decode())
    return out


def _libraries(root: Path, program: bytes) -> dict[str, bytes]:
    """Every shared library the program needs, transitively, by soname, from the unpacked packages (the dynamic
    loader too: libc needs it by name)."""
    found: dict[str, bytes] = {}
    todo = _needed(program)
    while todo:
        soname = todo.pop()
        if soname in found:
            continue
        path = next((d / soname for d in (root / LIBDIR, root / "usr" / LIBDIR) if (d / soname).exists()), None)
        if path is None:
            raise OperationalError(
                f"dropbear needs {soname}, which none of the packages {', '.join(DROPBEAR_LIBS)} carries: add its "
                "package to DROPBEAR_LIBS in ffinfra/apply/baremetal/image.py"
            )
        found[soname] = _resolve_link(root, path).read_bytes()
        todo.extend(_needed(found[soname]))
    if "ld-linux-x86-64.so.2" not in found:
        found["ld-linux-x86-64.so.2"] = (root / LIBDIR / "ld-linux-x86-64.so.2").read_bytes()
    return found


def _resolve_link(root: Path, path: Path) -> Path:
    """Follow symlinks inside the unpacked tree (an absolute target means root-relative, not the host's)."""
    for _ in range(16):
        if not path.is_symlink():
            return path
        target = os.readlink(path)
        path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
    raise OperationalError(f"symlink loop at {path}")


# --- initramfs ------------------------------------------------------------------------------------------------


def _cpio_gz(entries: Mapping[str, Entry]) -> bytes:
    """A gzip'd cpio newc archive of entries, reproducibly: sorted names, inode numbers by position, owner root,
    mtime 0, and a gzip header with no file name and time 0. Level 6: level 9 takes 6x as long for 1% less."""
    out = bytearray()

    def put(name: str, mode: int, data: bytes, ino: int, rdev: tuple[int, int]) -> None:
        nlink = 2 if mode & 0o170000 == DIR else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
        out.extend(b"070701" + "".join(f"{f:08x}" for f in fields).encode() + name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, name in enumerate(sorted(entries), start=1):
        mode, data, rdev = entries[name]
        put(name, mode, data, ino, rdev)
    put("TRAILER!!!", 0, b"", 0, (0, 0))
    return gzip.compress(bytes(out), compresslevel=6, mtime=0)
