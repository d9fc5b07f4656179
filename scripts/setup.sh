#!/usr/bin/env bash
# Everything qapi-ts needs on a fresh Debian/Ubuntu machine (run as root):
# QEMU binaries for the end-to-end tests, npm dependencies, QEMU's schema sources, a build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# tmux runs the interactive shell in a real terminal for its tests; zsh tests its completion script;
# libvirt (daemon, QEMU driver, virsh) runs a domain in session mode for the libvirt transport's tests.
for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils qemu-ga:qemu-guest-agent python3:python3 tmux:tmux zsh:zsh \
  libvirtd:libvirt-daemon virsh:libvirt-clients /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so:libvirt-daemon-driver-qemu; do
  what=${pair%%:*}
  if [ "${what#/}" != "$what" ]; then [ -e "$what" ] || need+=("${pair#*:}")
  else command -v "$what" >/dev/null 2>&1 || need+=("${pair#*:}"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${need[*]}" >&2; exit 1; }
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/fetch-qemu.sh
# Real QEMU 10.0 and 11.1 (and their qemu-ga) for the end-to-end tests against them (chrooted;
# cached outside the repository).
bash scripts/qemu-root.sh trixie >/dev/null
bash scripts/qemu-root.sh sid >/dev/null
npm run --silent build
