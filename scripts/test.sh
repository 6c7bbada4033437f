#!/usr/bin/env bash
# Set up everything the tests need, then run them all (unit, property, golden, and the simulated-fabric
# integration tests). Extra arguments go to pytest. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check ffinfra tests bench hfreduce/src
set +e
# As root every dependency is installed above, so no test may skip (tests/conftest.py fails the run if one does).
if [ "$(id -u)" = 0 ]; then export FFINFRA_NO_SKIPS=1; fi
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
