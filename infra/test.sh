#!/usr/bin/env bash
# The project's one test command (README): formatting, lints, the SAM template, and
# every test, including the AWS adapters against the emulator. It installs what it
# needs itself (Rust components, a Python virtualenv with moto, cfn-lint, SAM CLI and
# cargo-lambda, and one with checkov; qemu-user, chromium and chromedriver from apt),
# so it passes on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# A one-shot build: incremental caches would only add gigabytes to the disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The toolchain pinned in rust-toolchain.toml, with rustfmt and clippy.
if command -v rustup >/dev/null 2>&1; then
  rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tools (.venv: moto, cfn-lint, SAM CLI, cargo-lambda)"
./infra/setup.sh

echo "== sam validate --lint"
AWS_DEFAULT_REGION=us-east-1 .venv/bin/sam validate --lint

# The policy linter. Offline: no Prisma Cloud download, no update check. A check is
# skipped only on its resource, with the reason (template.yaml, Metadata: checkov).
echo "== checkov (template.yaml)"
CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
  .venv/checkov/bin/checkov -f template.yaml --framework cloudformation \
  --quiet --compact --skip-download

echo "== template rules, IAM and variables (infra/template_test.py)"
.venv/bin/python infra/template_test.py

echo "== sam build (arm64 bootstraps, cargo-lambda)"
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
PATH="$PWD/.venv/bin:$PATH" sam build --beta-features

# Debian packages the tests use, installed when missing (as root, with apt-get);
# otherwise the script says what to install.
apt_need() { # apt_need "PACKAGES" CHECK...
  local packages=$1
  shift
  "$@" && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    [ -n "${apt_updated:-}" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
    # shellcheck disable=SC2086 # a list of packages
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
  else
    echo "needed: apt-get install $packages" >&2
    exit 1
  fi
}
have_qemu() { command -v qemu-aarch64-static >/dev/null 2>&1 && [ -d /usr/aarch64-linux-gnu ]; }
have_browser() {
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 &&
    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]
}

echo "== qemu-user (runs the arm64 bootstraps in the tests)"
apt_need "qemu-user-static libc6-arm64-cross" have_qemu

echo "== chromium and chromedriver (the console page's browser test; a CJK font for its text)"
apt_need "chromium chromium-driver fonts-wqy-microhei" have_browser

echo "== AWS emulator"
eval "$(./infra/emulator.sh start)"
trap './infra/emulator.sh stop >/dev/null 2>&1 || true' EXIT

# One build of every target: the native function binaries the end-to-end tests drive
# and the tests themselves, with the same (dev-dependency) features, so `cargo test`
# below reuses it instead of building the AWS SDK a second time with other features.
echo "== cargo build (every target, including the function binaries the end-to-end tests drive)"
cargo build --workspace --all-targets --locked

echo "== cargo test (unit, property, integration, end-to-end; benches run once as tests)"
cargo test --workspace --all-targets --locked

echo "all checks passed"
