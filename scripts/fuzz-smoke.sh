#!/usr/bin/env bash
# Runs every cargo-fuzz target briefly (FUZZ_SECONDS each, default 15) from its committed
# corpus, so a decoder that learned to crash is caught in CI. Needs nightly and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-15}"
# One target folder for every fuzz project: their common dependencies build once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/fuzz}"
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  for target in $(cargo +nightly fuzz list --fuzz-dir "$dir"); do
    corpus="$dir/corpus/$target"
    work="$(mktemp -d)"
    [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
    echo "== fuzz $dir $target (${secs}s)"
    cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$work" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 3
    rm -rf "$work"
  done
done
