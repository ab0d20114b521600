#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh machine: system packages (Chromium and a Korean font for the
# browser-driven crawl and page tests, nginx for bench/ingest_vs_img2dataset.py), a virtual environment in
# .venv, torch + torchvision as a pair that imports together, then kcli itself with every extra and the
# development tools.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

install_system_packages() {
  if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi nanum && command -v nginx >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" != "0" ]; then
    log "not root: skipping apt-get (install 'chromium fonts-nanum nginx-light' yourself for browser features and the ingest bench)"
    return
  fi
  log "installing chromium, fonts-nanum and nginx-light with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-nanum fontconfig nginx-light >/dev/null
}

create_venv() {
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
  fi
}

install_python_packages() {
  local py=.venv/bin/python
  # The fingerprint skips a re-install when nothing that decides the environment changed.
  local stamp=.venv/.kcli-installed
  local want
  want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python packages up to date"
    return
  fi
  log "installing torch==2.14.1 + torchvision==0.29.1 (the pair that imports together with open_clip)"
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q torch==2.14.1 torchvision==0.29.1
  log "installing kcli and its dependencies"
  "$py" -m pip install -q -e '.[all,dev]'  # every extra (crawl, models, train, serve, nsfw, publish, deepl, ray, s3): the tests use them all
  echo "$want" > "$stamp"
}

install_system_packages
create_venv
install_python_packages
log "done: activate with 'source .venv/bin/activate' or call .venv/bin/kcli"
