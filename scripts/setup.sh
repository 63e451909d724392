#!/usr/bin/env bash
# Idempotent set-up: Debian's chromium, KaTeX assets, a venv with the project.
# Each step is skipped when its result is already in place, so `make demo` and
# `make test` can call this every time.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"
KATEX_VERSION="0.19.1"
KATEX_DIR="renderers/assets/katex"

say() { printf '[setup] %s\n' "$*"; }

need_root_for() {
  # Prints the exact command when we cannot install system packages ourselves.
  if [ "$(id -u)" -eq 0 ]; then return 0; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then return 0; fi
  say "cannot install system packages without root; run this, then retry:"
  say "  sudo apt-get update && sudo apt-get install -y $*"
  exit 1
}

apt_install() {
  need_root_for "$@"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if [ ! -f /tmp/.modswap-apt-updated ]; then
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq && touch /tmp/.modswap-apt-updated
  fi
  # Another apt (unattended upgrades, a parallel install) may hold the lock: wait for it.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

# 1. Python version
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  say "Python 3.11+ is required (found: $("$PYTHON" --version 2>&1)); set PYTHON=python3.11"
  exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  say "installing python3-venv"
  apt_install python3-venv
fi

# 2. Chromium from Debian (playwright's own browser download cannot work offline)
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium"
  apt_install chromium
fi

# 3. KaTeX assets from the npm registry, copied into renderers/assets/katex
if [ ! -f "$KATEX_DIR/katex.min.js" ] || [ "$(cat "$KATEX_DIR/VERSION" 2>/dev/null)" != "$KATEX_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "installing npm"
    apt_install npm
  fi
  say "fetching KaTeX $KATEX_VERSION"
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "katex@$KATEX_VERSION" >/dev/null && tar -xzf katex-*.tgz)
  rm -rf "$KATEX_DIR" && mkdir -p "$KATEX_DIR"
  cp "$work/package/dist/katex.min.js" "$work/package/dist/katex.min.css" "$KATEX_DIR/"
  cp -r "$work/package/dist/fonts" "$KATEX_DIR/fonts"
  cp "$work/package/LICENSE" "$KATEX_DIR/LICENSE"
  echo "$KATEX_VERSION" > "$KATEX_DIR/VERSION"
  rm -rf "$work"
fi

# 4. node-tikzjax (TeX in WebAssembly) for TikZ pictures, with its dependencies
TIKZJAX_VERSION="1.0.5"
TIKZJAX_DIR="renderers/assets/tikzjax"
if [ "$(cat "$TIKZJAX_DIR/VERSION" 2>/dev/null)" != "$TIKZJAX_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "installing npm"
    apt_install npm
  fi
  say "fetching node-tikzjax $TIKZJAX_VERSION"
  rm -rf "$TIKZJAX_DIR" && mkdir -p "$TIKZJAX_DIR"
  (cd "$TIKZJAX_DIR" && npm install --silent --no-audit --no-fund --no-save \
      "node-tikzjax@$TIKZJAX_VERSION" >/dev/null)
  echo "$TIKZJAX_VERSION" > "$TIKZJAX_DIR/VERSION"
fi
# Its files unpacked once, so each TeX worker starts without unpacking them (~0.4 s each)
if [ ! -f "$TIKZJAX_DIR/unpacked/complete" ]; then
  tex="$TIKZJAX_DIR/node_modules/node-tikzjax/tex"
  rm -rf "$TIKZJAX_DIR/unpacked" && mkdir -p "$TIKZJAX_DIR/unpacked/tex_files"
  tar -xzf "$tex/tex_files.tar.gz" -C "$TIKZJAX_DIR/unpacked/tex_files"
  gunzip -c "$tex/core.dump.gz" > "$TIKZJAX_DIR/unpacked/core.dump"
  touch "$TIKZJAX_DIR/unpacked/complete"
fi
# pgfplots read once here, not by the first pgfplots picture of every process (~0.7 s)
if [ ! -f "$TIKZJAX_DIR/unpacked/baked-v1/index.json" ]; then
  say "reading pgfplots into a TeX memory image (one-off, ~3 s)"
  if ! echo '{"id": 1, "bake": true}' | node renderers/tikz_worker.mjs \
      "$TIKZJAX_DIR/node_modules/node-tikzjax/dist/index.js" "$TIKZJAX_DIR/unpacked" \
      | grep -q '"baked"'; then
    say "baking the pgfplots image failed; pictures will read pgfplots themselves"
  fi
fi

# 5. The venv and the project (re-installed only when pyproject.toml changes)
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages (one-off, ~30 s)"
  log="$VENV/pip-install.log"
  if ! { "$VENV/bin/pip" install -q -U pip && "$VENV/bin/pip" install -q -e ".[dev,hf,ray]"; } >"$log" 2>&1; then
    cat "$log"; say "pip install failed (log above, also in $log)"; exit 1
  fi
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi
say "ready"
