"""The stateless node image: built from Debian packages, byte-for-byte reproducible, named by a digest of what it
is made of, rebuilt only when that changes; its initramfs holds what the boot contract needs and nothing else.

Tests that build download the packages once into a cache beside pytest's temporary folders (kept across runs) and
share one build of the default recipe."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from ffinfra.apply.baremetal.image import (
    DEFAULT_NIC_MODULES,
    NODE_INIT,
    ImageManifest,
    ImageRecipe,
    build_image,
)
from ffinfra.errors import OperationalError

APT = ("apt-get", "apt-cache", "dpkg-deb")
needs_apt = pytest.mark.skipif(
    not all(shutil.which(t) for t in APT), reason="building the image needs apt and dpkg (a Debian host)"
)
VERSIONS = {"linux-image-6.1.0-41-amd64": "6.1.158-1", "busybox-static": "1:1.35.0-4+b3", "dropbear-bin": "2022.83-1"}


@pytest.fixture(scope="session")
def deb_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp().parent / "ffinfra-deb-cache"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, deb_cache: Path) -> tuple[Path, ImageManifest]:
    """The default recipe, built once for the session."""
    out = tmp_path_factory.mktemp("image")
    return out, build_image(ImageRecipe(), out, deb_cache)


def cpio_entries(initrd: bytes) -> list[tuple[str, int, int, int, int, bytes]]:
    """(name, mode, uid, gid, mtime, data) of each entry of a gzip'd cpio newc archive, in archive order."""
    raw, pos, out = gzip.decompress(initrd), 0, []
    while True:
        assert raw[pos : pos + 6] == b"070701", f"not a newc header at {pos}"
        f = [int(raw[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name = raw[pos + 110 : pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        data = raw[pos : pos + filesize]
        pos = (pos + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out.append((name, f[1], f[2], f[3], f[5], data))


def apt_candidate(package: str) -> str:
    out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.strip().startswith("Candidate:"))


def test_the_init_script_is_valid_busybox_sh() -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    r = subprocess.run([busybox, "sh", "-n", str(NODE_INIT)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_the_digest_names_the_recipe_and_every_package_version() -> None:
    base = ImageRecipe().key(VERSIONS)
    assert base == ImageRecipe().key(dict(reversed(VERSIONS.items())))  # a digest, not an order
    assert len({
        base,
        ImageRecipe(kernel_package="linux-image-6.1.0-41-amd64").key(VERSIONS),
        ImageRecipe(nic_modules=("e1000",)).key(VERSIONS),
        ImageRecipe(extra_modules=("megaraid_sas",)).key(VERSIONS),
        ImageRecipe().key({**VERSIONS, "dropbear-bin": "2022.83-1+deb12u1"}),
    }) == 5  # fmt: skip
    # a module asked for twice is carried once: the same image, the same digest
    assert ImageRecipe(extra_modules=("e1000",)).key(VERSIONS) == base
    assert ImageRecipe(extra_modules=("megaraid_sas",)).modules == (*DEFAULT_NIC_MODULES, "megaraid_sas")


@needs_apt
def test_a_kernel_package_apt_does_not_know_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match=r"no package linux-image-0\.0\.0-0-nonesuch.*kernel_package"):
        build_image(ImageRecipe(kernel_package="linux-image-0.0.0-0-nonesuch"), tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "out").exists()


@needs_apt
@pytest.mark.slow
def test_a_module_the_kernel_lacks_is_a_clear_error(tmp_path: Path, deb_cache: Path) -> None:
    with pytest.raises(OperationalError, match=r"no nonesuch_nic: remove it from the image's modules"):
        build_image(ImageRecipe(extra_modules=("nonesuch_nic",)), tmp_path / "out", deb_cache)
    assert not (tmp_path / "out" / "manifest.json").exists()


@needs_apt
@pytest.mark.slow
def test_the_manifest_names_each_package_version_and_each_file_checksum(built: tuple[Path, ImageManifest]) -> None:
    out, manifest = built
    assert ImageManifest.from_json((out / "manifest.json").read_text()) == manifest
    kernel = next(p for p in manifest.packages if p.startswith("linux-image-"))
    assert kernel == f"linux-image-{manifest.kernel_release}"
    # no kernel_package: the kernel linux-image-amd64 pulls in today, at apt's candidate versions
    meta = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=True)
    assert f"Depends: {kernel}" in meta.stdout
    names = {kernel, "busybox-static", "dropbear-bin", "libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10",
             "zlib1g"}  # fmt: skip
    assert manifest.packages == {name: apt_candidate(name) for name in names}
    assert manifest.digest == ImageRecipe().key(manifest.packages)
    for name in ("vmlinuz", "initrd.img"):
        data = (out / name).read_bytes()
        assert manifest.files[name] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert sorted(p.name for p in out.iterdir()) == ["initrd.img", "manifest.json", "vmlinuz"]


@needs_apt
@pytest.mark.slow
def test_two_builds_of_one_recipe_are_byte_identical(
    built: tuple[Path, ImageManifest], deb_cache: Path, tmp_path: Path
) -> None:
    out, manifest = built
    again = build_image(ImageRecipe(), tmp_path / "again", deb_cache)
    assert again == manifest
    for name in ("vmlinuz", "initrd.img", "manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


@needs_apt
@pytest.mark.slow
def test_the_initramfs_holds_init_busybox_dropbear_the_modules_and_the_digest(
    built: tuple[Path, ImageManifest],
) -> None:
    out, manifest = built
    initrd = (out / "initrd.img").read_bytes()
    assert initrd[3] & 0x08 == 0 and initrd[4:8] == b"\0\0\0\0"  # gzip: no file name, no time stamp
    entries = cpio_entries(initrd)
    names = [e[0] for e in entries]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert {(uid, gid, mtime) for _, _, uid, gid, mtime, _ in entries} == {(0, 0, 0)}
    files = {name: (mode, data) for name, mode, _, _, _, data in entries}
    assert files["init"] == (0o100755, NODE_INIT.read_bytes())
    assert files["etc/ffinfra-image"][1].decode() == f"{manifest.digest}\n"
    assert files["etc/ffinfra-modules"][1].decode().split() == list(DEFAULT_NIC_MODULES)
    assert files["dev/console"][0] == 0o020600
    # busybox init is PID 1; the applets the init script uses are there, on every PATH (bin, sbin are usr/bin)
    for applet in ("init", "sh", "udhcpc", "wget", "modprobe", "ip", "poweroff", "timeout", "hostname"):
        assert files[f"usr/bin/{applet}"] == (0o120777, b"busybox"), applet
    assert files["sbin"] == (0o120777, b"usr/bin") and files["bin"] == (0o120777, b"usr/bin")
    assert "::respawn:/init sshd" in files["etc/inittab"][1].decode()
    # dropbear and exactly the shared libraries it needs, from the packages
    assert files["usr/bin/dropbear"][0] == 0o100755
    libs = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("lib/x86_64-linux-gnu/"))
    assert libs == ["ld-linux-x86-64.so.2", "libc.so.6", "libcrypt.so.1", "libgmp.so.10", "libtomcrypt.so.1",
                    "libtommath.so.1", "libz.so.1"]  # fmt: skip
    # each NIC driver, with what it depends on listed in modules.dep and carried
    release = manifest.kernel_release
    dep = dict(line.split(":", 1) for line in files[f"lib/modules/{release}/modules.dep"][1].decode().splitlines())
    carried = {n.removeprefix(f"lib/modules/{release}/") for n in names if n.endswith(".ko")}
    assert set(dep) == carried
    by_name = {Path(m).stem.replace("-", "_"): m for m in carried}
    assert set(DEFAULT_NIC_MODULES) <= set(by_name)
    assert dep[by_name["e1000"]].split() == []
    assert by_name["mlxfw"] in dep[by_name["mlx5_core"]].split()
    # depmod's order: modprobe loads from the end, so failover (what net_failover needs) comes after net_failover
    virtio_net = dep[by_name["virtio_net"]].split()
    assert virtio_net.index(by_name["net_failover"]) < virtio_net.index(by_name["failover"])
    assert all(d in carried for deps in dep.values() for d in deps.split())


@needs_apt
@pytest.mark.slow
def test_another_recipe_builds_another_image(
    built: tuple[Path, ImageManifest], deb_cache: Path, tmp_path: Path
) -> None:
    manifest = built[1]
    small = build_image(ImageRecipe(nic_modules=("e1000",)), tmp_path / "small", deb_cache)
    assert small.digest != manifest.digest
    assert small.packages == manifest.packages
    assert small.files["vmlinuz"] == manifest.files["vmlinuz"]
    assert small.files["initrd.img"]["size"] < manifest.files["initrd.img"]["size"]
    modules = [e[0] for e in cpio_entries((tmp_path / "small" / "initrd.img").read_bytes()) if e[0].endswith(".ko")]
    assert [Path(m).name for m in modules] == ["e1000.ko"]


@needs_apt
@pytest.mark.slow
def test_an_up_to_date_image_is_not_rebuilt_and_a_damaged_one_is(
    built: tuple[Path, ImageManifest], deb_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "image"
    shutil.copytree(built[0], out)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    said: list[str] = []
    assert build_image(ImageRecipe(), out, deb_cache, on_progress=said.append) == built[1]
    assert said == [f"node image {built[1].digest[:12]} is up to date in {out}"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before

    (out / "initrd.img").write_bytes(b"damaged")
    said.clear()
    build_image(ImageRecipe(), out, deb_cache, on_progress=said.append)
    assert any(m.startswith("assembling node image") for m in said), said
    assert (out / "initrd.img").read_bytes() == (built[0] / "initrd.img").read_bytes()
