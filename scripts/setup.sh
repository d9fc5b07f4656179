#!/usr/bin/env bash
# Everything qapi-ts needs on a fresh Debian machine (run as root). Elsewhere it says what to
# install (or installs it with apt-get, as on Ubuntu) and fetches QEMU's release tarballs instead
# of Debian's source packages:
# QEMU binaries for the end-to-end tests, npm dependencies, QEMU's schema sources, a build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# tmux runs the interactive shell in a real terminal for its tests; zsh tests its completion script;
# libvirt (daemon, QEMU driver, virsh) runs a domain in session mode for the libvirt transport's tests;
# Chromium (headless) opens the API pages for their test (test/pages.test.ts).
for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils qemu-ga:qemu-guest-agent python3:python3 tmux:tmux zsh:zsh chromium:chromium \
  libvirtd:libvirt-daemon virsh:libvirt-clients /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so:libvirt-daemon-driver-qemu; do
  what=${pair%%:*}
  if [ "${what#/}" != "$what" ]; then [ -e "$what" ] || need+=("${pair#*:}")
  else command -v "$what" >/dev/null 2>&1 || need+=("${pair#*:}"); fi
done
# Debian's archive (its source packages, the debootstrap roots below) is used on Debian only;
# elsewhere the schema sources are QEMU's release tarballs that scripts/qemu-versions pins.
apt=$(command -v apt-get || true)
debian=$([ -n "$apt" ] && grep -qs '^ID=debian$' /etc/os-release && echo yes || true)
if [ -z "$debian" ]; then
  command -v xz >/dev/null 2>&1 || need+=(xz-utils)
  command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 || need+=(curl)
fi
# Without apt-get nothing is installed for you: the fetch needs xz-utils and curl, the build
# nothing more, and the tests that run QEMU, qemu-ga, libvirt, tmux or zsh need those.
if [ -z "$apt" ] && [ ${#need[@]} -gt 0 ]; then
  echo "setup: no apt-get here; install these yourself (Debian's package names): ${need[*]}" >&2
  need=()
fi
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
# The oldest TypeScript the README names, for the packing test's check of the package's declarations
# (not a devDependency: its tsc would take the place of the project's own in node_modules/.bin).
if [ ! -f .cache/typescript-5.0/package/bin/tsc ]; then
  mkdir -p .cache/typescript-5.0
  (cd .cache/typescript-5.0 && npm pack --silent typescript@5.0.4 >/dev/null && tar -xzf typescript-5.0.4.tgz && rm typescript-5.0.4.tgz)
fi

# Off Debian, a release without an upstream tarball (or from Debian's binary packages) cannot be
# fetched: fetch-qemu.sh names it and how to get it (--from-tree), and the build goes on.
bash scripts/fetch-qemu.sh || [ -z "$debian" ] || exit 1
# Real QEMU 10.0 and 11.1 (and their qemu-ga) for the end-to-end tests against them (chrooted;
# cached outside the repository; Debian only: debootstrap).
[ -z "$debian" ] || bash scripts/qemu-root.sh trixie >/dev/null
[ -z "$debian" ] || bash scripts/qemu-root.sh sid >/dev/null
npm run --silent build
