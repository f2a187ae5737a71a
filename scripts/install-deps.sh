#!/usr/bin/env bash
# Installs what tickwire's build, run and tests need, idempotently: each step checks first
# and does nothing when the thing is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

need_apt=()
dpkg -s python3-qpid-proton >/dev/null 2>&1 || need_apt+=(python3-qpid-proton)
dpkg -s libqpid-proton-cpp12-dev >/dev/null 2>&1 || need_apt+=(libqpid-proton-cpp12-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# pyarrow, to read back the Parquet files `tickwire export` writes (tests/cli_replay.rs).
# Debian 12 has no python3-pyarrow package: install the PyPI wheel for the system Python.
if ! /usr/bin/python3 -c 'import pyarrow.parquet' >/dev/null 2>&1; then
  echo "install-deps: pip install pyarrow"
  /usr/bin/python3 -m pip --version >/dev/null 2>&1 || {
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
  }
  $sudo /usr/bin/python3 -m pip install --quiet --root-user-action=ignore --break-system-packages pyarrow
fi

# rhea, the JavaScript AMQP 1.0 client, pinned in tests/js/package.json.
if [ ! -d "$here/tests/js/node_modules/rhea" ]; then
  echo "install-deps: npm install (tests/js)"
  (cd "$here/tests/js" && npm install --no-audit --no-fund --silent)
fi

# cargo-fuzz for the fuzz smoke runs; nightly is on the machines already.
if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
  echo "install-deps: cargo install cargo-fuzz"
  cargo install --locked cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
fi

# Multicast on loopback: the embedded default sends its A and B lines there.
if ! ip link show lo | grep -q MULTICAST; then
  echo "install-deps: ip link set lo multicast on"
  $sudo ip link set lo multicast on
fi
