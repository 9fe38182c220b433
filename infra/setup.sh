#!/usr/bin/env bash
# Installs the deploy and emulator toolchain (infra/requirements.txt: moto, cfn-lint,
# SAM CLI, cargo-lambda, zig, awscli) into ./.venv at the repository root, and the
# policy linter (infra/requirements-checkov.txt: checkov) into ./.venv/checkov, a
# virtualenv of its own because its pins conflict with the SAM CLI's.
#
# Idempotent and quiet: the install is skipped when .venv/.requirements.sha256 matches
# the requirements file, so calling it before every test run costs a few milliseconds.
# On a fresh Debian machine with only python3 it installs python3-venv through apt-get
# (when running as root), because Debian ships python3 without the venv module.
#
# Usage: infra/setup.sh            (prints where the tools are)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/infra/requirements.txt"
STAMP="$VENV/.requirements.sha256"
CHECKOV_VENV="$VENV/checkov"
CHECKOV_REQ="$ROOT/infra/requirements-checkov.txt"
CHECKOV_STAMP="$CHECKOV_VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

say() { echo "infra/setup.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.9 or newer"

# Two test runs starting at once must not install into the same venv concurrently.
mkdir -p "$ROOT/target"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ROOT/target/.infra-setup.lock"
  flock 9
fi

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

make_venv() {
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" >/dev/null 2>&1
}

if ! venv_ok; then
  if ! make_venv; then
    # Debian/Ubuntu: "ensurepip is not available" until python3-venv is installed.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
      say "python3 -m venv failed; installing python3-venv with apt-get"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      # The versioned package exists on Debian 12 / Ubuntu 22.04+; fall back to the generic one.
      apt-get install -y -qq "python${pyver}-venv" >/dev/null 2>&1 \
        || apt-get install -y -qq python3-venv >/dev/null
      make_venv || die "python3 -m venv still fails after installing python3-venv"
    else
      rm -rf "$VENV"
      die "python3 -m venv failed; install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
    fi
  fi
fi

want="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$REQ")"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  say "installing $(grep -cEv '^[[:space:]]*(#|$)' "$REQ") packages from infra/requirements.txt into .venv (about a minute)"
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  echo "$want" >"$STAMP"
fi

want="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$CHECKOV_REQ")"
have="$(cat "$CHECKOV_STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ] || ! [ -x "$CHECKOV_VENV/bin/python" ]; then
  say "installing checkov (infra/requirements-checkov.txt) into .venv/checkov"
  rm -rf "$CHECKOV_VENV"
  "$PYTHON" -m venv "$CHECKOV_VENV" >/dev/null 2>&1 || die "python3 -m venv $CHECKOV_VENV failed"
  "$CHECKOV_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$CHECKOV_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$CHECKOV_REQ"
  echo "$want" >"$CHECKOV_STAMP"
fi

for tool in sam cfn-lint moto_server aws cargo-lambda; do
  [ -x "$VENV/bin/$tool" ] || die "$VENV/bin/$tool is missing; delete $STAMP and run again"
done
[ -x "$CHECKOV_VENV/bin/checkov" ] || die "$CHECKOV_VENV/bin/checkov is missing; delete $CHECKOV_STAMP and run again"
say "tools in $VENV/bin (sam, cfn-lint, moto_server, aws, cargo-lambda, zig via python -m ziglang)" \
  "and $CHECKOV_VENV/bin (checkov); for sam build: export PATH=\"$VENV/bin:\$PATH\""
