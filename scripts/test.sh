#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, the whole workspace's tests (unit,
# integration, fuzz-corpus replays, end-to-end interop with Qpid Proton Python/C++ and rhea),
# and doc tests. Installs what the tests need first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CARGO_TERM_COLOR=never
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-nextest" ]; then
  cargo test --workspace --doc -q
  cargo nextest run --workspace --no-fail-fast --profile ci
else
  cargo test --workspace --no-fail-fast
fi
