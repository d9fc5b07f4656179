#!/usr/bin/env bash
# A Debian root holding a newer QEMU than this machine's, for end-to-end tests against the real
# binary (run with chroot). Built once with debootstrap (about a minute) and cached outside the
# repository, in $QAPI_TS_ROOTS (default /var/cache/qapi-ts/roots).
# Usage: scripts/qemu-root.sh SUITE      trixie (QEMU 10.0.x) or sid (QEMU 11.1.x). Prints the root's path.
# The root also holds qemu-guest-agent (its binary and the guest agent's schema source, which the
# package ships as usr/share/doc/qemu-guest-agent/qapi-schema.json.gz).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: qemu-root.sh SUITE}
cache=${QAPI_TS_ROOTS:-/var/cache/qapi-ts/roots}
root=$cache/$suite
die() { echo "qemu-root: $*" >&2; exit 1; }

if [ -f "$root/.complete" ] && [ -x "$root/usr/bin/qemu-system-x86_64" ]; then
  echo "$root"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "need root to build $root (debootstrap, chroot)"
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "qemu-root: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
# The mirror is the machine's own, as fetch-qemu.sh derived it (no host is written in our files).
src=/etc/apt/sources.list.d/qapi-ts-deb-src.sources
[ -f "$src" ] || bash "$here/fetch-qemu.sh" >&2
uri=$(awk '/^URIs:/ { print $2; exit }' "$src")
[ -n "$uri" ] || die "no mirror URI in $src"
mkdir -p "$cache"
rm -rf "$root.partial"
started=$(date +%s)
echo "qemu-root: debootstrap $suite into $root (QEMU from $uri)" >&2
debootstrap --variant=minbase --include=qemu-system-x86,qemu-utils,qemu-guest-agent "$suite" "$root.partial" "$uri" >"$cache/$suite.log" 2>&1 ||
  die "debootstrap failed (see $cache/$suite.log)"
[ -x "$root.partial/usr/bin/qemu-system-x86_64" ] || die "no qemu-system-x86_64 in the $suite root"
chroot "$root.partial" qemu-system-x86_64 --version | head -1 >"$root.partial/.complete"
rm -rf "$root"
mv "$root.partial" "$root"
echo "qemu-root: $suite ready in $(( $(date +%s) - started )) s: $(cat "$root/.complete")" >&2
echo "$root"
