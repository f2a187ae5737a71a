#!/usr/bin/env bash
# Builds tickwire and starts the whole appliance on its embedded default: the simulated
# feed on loopback multicast, the journal in ./tickwire-data, AMQP on 127.0.0.1:5672 and the
# console on http://127.0.0.1:8080. Extra arguments go to `tickwire run`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ip link show lo 2>/dev/null | grep -q MULTICAST; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo ip link set lo multicast on
fi
cargo build --release --bin tickwire
exec ./target/release/tickwire run "$@"
