#!/usr/bin/env bash
# Fetch QEMU's QAPI schema sources from Debian's source packages into .cache/qemu/VERSION.
# Usage: scripts/fetch-qemu.sh [VERSION...]   (default: every line of scripts/qemu-versions)
# Idempotent: a version whose cache is complete is skipped instantly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${QAPI_TS_CACHE:-$root/.cache/qemu}
versions=${QAPI_TS_VERSIONS:-$here/qemu-versions}
src_list=/etc/apt/sources.list.d/qapi-ts-deb-src.sources

die() { echo "fetch-qemu: $*" >&2; exit 1; }

debver_of() {
  awk -v v="$1" '!/^#/ && $1 == v { print $2 }' "$versions"
}

# The third column: empty for a source package, bin:SUITE for binary packages only.
from_of() {
  awk -v v="$1" '!/^#/ && $1 == v { print $3 }' "$versions"
}

# A release whose source package cannot be had: the guest agent's schema, as qemu-guest-agent
# ships it, from the Debian root of that suite (scripts/qemu-root.sh), and the version it reports.
fetch_binary() {
  local ver=$1 debver=$2 suite=$3 dest=$cache/$1 root work got
  ensure_deb_src
  root=$(bash "$here/qemu-root.sh" "$suite")
  local doc=$root/usr/share/doc/qemu-guest-agent/qapi-schema.json.gz
  [ -f "$doc" ] || die "$suite root: no $doc (qemu-guest-agent not installed there?)"
  # The exact package version, read from the root's dpkg database (no chroot: no root needed).
  got=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Version}' qemu-guest-agent 2>/dev/null || true)
  [ "$got" = "$debver" ] || die "$suite root has qemu-guest-agent ${got:-(none)}, not $debver: rebuild it (rm -rf $root; bash scripts/qemu-root.sh $suite) or update scripts/qemu-versions"
  work=$(mktemp -d "${TMPDIR:-/tmp}/qapi-ts-fetch.XXXXXX")
  mkdir -p "$work/qga"
  gunzip -c "$doc" > "$work/qga/qapi-schema.json"
  # The upstream version: 1:11.1.3+ds-1 -> 11.1.3.
  echo "$debver" | sed -E 's/^[0-9]+://; s/[+~-].*$//' > "$work/VERSION"
  # QMP as the binary reports it (its schema source is in no package), and its reference for docs.
  local man=$root/usr/share/man/man7/qemu-qmp-ref.7.gz reported
  [ -f "$man" ] || die "$suite root: no $man (qemu-system-common not installed there?)"
  mkdir -p "$work/qapi"
  reported=$(python3 "$here/introspect.py" "$root" "$work/qapi/introspection.json") ||
    die "$suite root: could not read QEMU's introspection"
  [ "$reported" = "$(cat "$work/VERSION")" ] || die "$suite root's QEMU says it is $reported, not $(cat "$work/VERSION")"
  cp "$man" "$work/qapi/qemu-qmp-ref.7.gz"
  echo "$debver bin:$suite qmp" > "$work/.complete"
  rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && mv "$work" "$dest"
  echo "fetch-qemu: $ver (guest agent schema, QMP introspection and reference, from $suite's binary packages) ready in $dest" >&2
}

# Derive deb-src entries from the machine's own Debian entries, so no host is written in our files.
ensure_deb_src() {
  [ -f "$src_list" ] && return 0
  [ "$(id -u)" = 0 ] || die "need root to add a deb-src entry ($src_list)"
  local out="" uris keyring
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Each deb822 stanza: keep URIs and Signed-By of Types: deb stanzas whose suites look like Debian's main archive.
    out+=$(awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && uris != "" && suites !~ /security/ && suites ~ /(bookworm|trixie|sid|forky)/)
          printf "Types: deb-src\nURIs: %s\nSuites: bookworm trixie sid\nComponents: main\n%s\n", uris, (signed != "" ? "Signed-By: " signed "\n" : "")
        types = uris = suites = signed = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); signed = $0 }
      END { flush() }' "$f")
  done
  if [ -z "$out" ] && [ -f /etc/apt/sources.list ]; then
    # One-line format: "deb [opts] URI SUITE COMPONENTS"
    uris=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
    keyring=$(ls /usr/share/keyrings/debian-archive-keyring.gpg 2>/dev/null || true)
    [ -n "$uris" ] && out=$(printf "Types: deb-src\nURIs: %s\nSuites: bookworm trixie sid\nComponents: main\n%s\n" "$uris" "${keyring:+Signed-By: $keyring}")
  fi
  [ -n "$out" ] || die "found no Debian apt source entry to derive a deb-src entry from"
  printf '%s\n' "$out" > "$src_list"
  apt-get update -qq || die "apt-get update failed after adding $src_list"
}

fetch_one() {
  local ver=$1 debver dest work
  debver=$(debver_of "$ver")
  [ -n "$debver" ] || die "unknown QEMU version '$ver' (known: $(awk '!/^#/ && NF {printf "%s ", $1}' "$versions"))"
  dest=$cache/$ver
  local from stamp
  from=$(from_of "$ver")
  # The stamp says where the files came from: a release that moves from binary to source packages is fetched again.
  stamp=$debver${from:+ $from}
  # A binary release's cache holds QMP's introspection too (since its stamp says qmp).
  [ "${from#bin:}" != "$from" ] && stamp="$stamp qmp"
  if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$stamp" ]; then
    return 0
  fi
  # Added from a local QEMU tree or binary (npm run add-qemu): nothing to download it from.
  if [ "${from#local:}" != "$from" ]; then
    die "QEMU $ver was added from a local ${from#local:} (scripts/qemu-versions says $from) and $dest is missing or stale: add it again with npm run add-qemu, or from a fetchable source"
  fi
  if [ "${from#bin:}" != "$from" ]; then
    fetch_binary "$ver" "$debver" "${from#bin:}"
    return 0
  fi
  ensure_deb_src
  work=$(mktemp -d "${TMPDIR:-/tmp}/qapi-ts-fetch.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  echo "fetch-qemu: downloading qemu=$debver source package" >&2
  if ! (cd "$work" && apt-get source --download-only -qq "qemu=$debver" >"$work/apt.log" 2>&1); then
    # A version apt lists may still be missing from the mirror: say so plainly.
    sed 's/^/  /' "$work/apt.log" | tail -n 5 >&2
    die "apt could not deliver the source of qemu=$debver (is it still on the mirror? try 'apt-cache showsrc qemu')"
  fi
  local orig
  orig=$(ls "$work"/qemu_*.orig.tar.* 2>/dev/null | head -n 1)
  [ -n "$orig" ] || die "no upstream tarball in the downloaded source of qemu=$debver"
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xf "$orig" -C "$dest" --strip-components=1 --wildcards --no-anchored \
    '*/qapi/*' '*/qga/*' '*/storage-daemon/qapi/*' '*/tests/qapi-schema/*' '*/docs/*' '*/scripts/qapi*' '*/VERSION' \
    2>/dev/null || true
  [ -f "$dest/qapi/qapi-schema.json" ] || die "qemu=$debver: qapi/qapi-schema.json missing after extraction"
  echo "$debver" > "$dest/.complete"
  echo "fetch-qemu: $ver ready in $dest" >&2
}

# --find VERSION: the Debian source versions of QEMU VERSION (e.g. 10.1) apt knows, newest first,
# each with its suite (a binary-only rebuild such as +b3 is not a source version: binaries are
# found through their suite).
if [ "${1:-}" = --find ]; then
  [ $# -eq 2 ] || die "usage: fetch-qemu.sh --find VERSION"
  ensure_deb_src
  apt-cache madison qemu 2>/dev/null |
    awk -F'|' -v v="$2" '{
      gsub(/ /, "", $2); n = split($3, where, " "); if (where[n] != "Sources") next
      split(where[2], sw, "/")
      up = $2; sub(/^[0-9]+:/, "", up); sub(/[+~-].*$/, "", up)
      if (index(up ".", v ".") == 1) print $2, sw[1]
    }' | sort -u -k1,1Vr
  exit 0
fi
if [ $# -eq 0 ]; then
  set -- $(awk '!/^#/ && NF { print $1 }' "$versions")
fi
for v in "$@"; do fetch_one "$v"; done
