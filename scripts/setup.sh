#!/usr/bin/env bash
# Set up ffinfra on a fresh Debian 12 machine with Python 3.11: a virtualenv in .venv with ffinfra installed.
#   scripts/setup.sh           Python only (enough for validate / show / build / plan)
#   scripts/setup.sh --test    also the test dependencies and the Debian packages the tests run for real:
#                              ibsim-utils, opensm, infiniband-diags, ibutils (simulated InfiniBand fabric), and
#                              HFReduce built from hfreduce/ into the venv (cmake, g++, python3-dev and, for its
#                              ibverbs transport, libibverbs-dev from Debian; nanobind and scikit-build-core from PyPI),
#                              and what the bare-metal tests run (a network-booting QEMU VM behind Redfish and IPMI
#                              BMC emulators): dnsmasq, qemu-system-x86, ipxe-qemu, qemu-utils, libvirt-daemon(-driver-
#                              qemu), libvirt-clients, libvirt-dev, pkg-config, openipmi, ipmitool, busybox,
#                              dropbear-bin, cpio, cloud-init, debconf-utils
#   scripts/setup.sh --lab     also what `ffinfra up` and `ffinfra test` need for the lab stack (implied by --test), as
#                              root: systemd-container (the nodes boot systemd), openssh-server, slurm-wlm, munge,
#                              iputils-ping, netcat-openbsd, the fabric simulator (ibsim-utils, opensm,
#                              infiniband-diags) and the benchmark tools (iperf3, fio, perftest, numactl), all from Debian; ansible-core, pytest-testinfra, paramiko and
#                              PyTorch 2.13.0 (CPU) into the venv. Install the venv before `ffinfra up`: the lab's
#                              nodes see it through their overlay root and it must not change while they run
#   scripts/setup.sh --baremetal  also what `ffinfra provision`/`power` need on the boot server, as root: dnsmasq,
#                              dropbear-bin, ipxe (undionly.kpxe, ipxe.efi) from Debian; sushy, pyghmi, ansible-core
#   scripts/setup.sh --bench   also Open MPI (openmpi-bin, libopenmpi-dev) for bench/allreduce.py
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_lab=0
want_bench=0
want_baremetal=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1; want_lab=1 ;;
    --lab) want_lab=1 ;;
    --bench) want_bench=1; want_lab=1 ;;
    --baremetal) want_baremetal=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "ffinfra needs Python >= 3.11"'

debs=()
if [ "$want_test" = 1 ]; then
  # ibsim-utils, opensm, infiniband-diags, ibutils: the simulated InfiniBand fabric
  # bare metal (tests/integration/baremetal), none of whose daemons may start on install (policy-rc.d below):
  #   dnsmasq: the provisioning server's DHCP, TFTP and router advertisements
  #   qemu-system-x86 ipxe-qemu qemu-utils: the network-booting VM, its NIC's iPXE ROM, its (empty) disk
  #   libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients: libvirtd and virsh, which sushy-tools' Redfish
  #     emulator drives the VM through; libvirt-dev pkg-config: to build libvirt-python from PyPI into the venv
  #   openipmi ipmitool: ipmi_sim, the IPMI BMC emulator (driving the same VM through virsh), and a CLI to check it
  #   busybox dropbear-bin cpio: checks of the node image's /init (busybox sh -n), dropbearconvert (its host key),
  #     cpio (the image's build downloads busybox-static and dropbear itself)
  #   cloud-init debconf-utils: the real parsers that check the rendered user-data (cloud-init schema) and preseed
  #     (debconf-set-selections --checkonly)
  for pkg in ibsim-utils opensm infiniband-diags ibutils \
             dnsmasq qemu-system-x86 ipxe-qemu qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
             libvirt-dev pkg-config openipmi ipmitool busybox dropbear-bin cpio cloud-init debconf-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg")
  done
fi
if [ "$want_lab" = 1 ] && [ "$(id -u)" = 0 ]; then
  # The lab's nodes are namespaces over the host's / (overlay root): what is installed here is installed there.
  # Without root the lab cannot run at all (ffinfra up says so), so a non-root --test run skips these.
  # Lab nodes see the host's packages through their overlay root and have no network of their own, so every
  # package a role installs must already be here.
  # cmake, g++, python3-dev: HFReduce is built from source, into the venv and by the hfreduce role on the nodes
  for pkg in systemd-container openssh-server slurm-wlm munge iputils-ping netcat-openbsd ibsim-utils opensm \
             infiniband-diags iperf3 fio perftest numactl cmake g++ python3-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg")
  done
fi
if [ "$want_test" = 1 ]; then
  # libibverbs-dev: HFReduce's ibverbs transport is compiled for the tests (no RDMA device here runs it)
  for pkg in cmake g++ python3-dev libibverbs-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg"); done
fi
if [ "$want_baremetal" = 1 ]; then
  for pkg in dnsmasq dropbear-bin ipxe; do dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg"); done
fi
if [ "$want_bench" = 1 ]; then
  for pkg in openmpi-bin libopenmpi-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg"); done
fi
if ! "$PY" -m venv --help >/dev/null 2>&1; then debs+=("python3-venv"); fi
if [ ${#debs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: missing Debian packages: ${debs[*]} (run as root, or: sudo apt-get install ${debs[*]})" >&2
    exit 1
  fi
  echo "setup.sh: installing Debian packages: ${debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # opensm's postinst tries to start the daemon; policy-rc.d may refuse, which is harmless.
  # sshd, munge and slurm must not start on the host (the lab starts them inside its nodes): a policy-rc.d that
  # refuses every start is put in place for the install when the machine has none (containers usually do).
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null || { [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  # cloud-init is here for its schema check only: it must never configure this machine at its next boot
  case " ${debs[*]} " in *" cloud-init "*) mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled ;; esac
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
if [ "$want_lab" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[apply,accept,lab]'
fi
if [ "$want_baremetal" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[apply,baremetal]'
fi
if [ "$want_test" = 1 ] || [ "$want_lab" = 1 ]; then
  # HFReduce from source with this venv's nanobind and scikit-build-core (the lab's hfreduce role builds it the
  # same way on the nodes), named by its source digest; skipped when the venv has that build already, so a lab
  # running on this venv is not disturbed
  src=$(.venv/bin/python -c 'from ffinfra import assets; from ffinfra.topology.hfreduce import read_source; print(read_source(assets.asset_dir("hfreduce")).short)')
  have=$(.venv/bin/python -c 'import hfreduce; print(hfreduce.build_info()["source"])' 2>/dev/null || true)
  if [ "$src" != "$have" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation \
      -C cmake.define.HFREDUCE_SOURCE="$src" ./hfreduce
  fi
fi
echo "setup.sh: ready (.venv/bin/ffinfra)"
