#!/usr/bin/env bash
# Set up ffinfra on a fresh Debian 12 machine with Python 3.11: a virtualenv in .venv with ffinfra installed.
#   scripts/setup.sh           Python only (enough for validate / show / build / plan)
#   scripts/setup.sh --test    also the test dependencies and the Debian packages the tests run for real:
#                              ibsim-utils, opensm, infiniband-diags, ibutils (simulated InfiniBand fabric)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "ffinfra needs Python >= 3.11"'

debs=()
if [ "$want_test" = 1 ]; then
  for pkg in ibsim-utils opensm infiniband-diags ibutils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg")
  done
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
  apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
echo "setup.sh: ready (.venv/bin/ffinfra)"
