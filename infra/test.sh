#!/usr/bin/env bash
# The project's one test command (README): formatting, lints, and every test.
# It installs what it needs itself, so it passes on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain pinned in rust-toolchain.toml, with rustfmt and clippy.
if command -v rustup >/dev/null 2>&1; then
  rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (unit, property, integration, end-to-end; benches run once as tests)"
cargo test --workspace --all-targets --locked

echo "all checks passed"
