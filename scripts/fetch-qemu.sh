#!/usr/bin/env bash
# Fetch QEMU's QAPI schema sources into .cache/qemu/VERSION, for every release of scripts/qemu-versions.

# The parts of a QEMU source tree qapi-ts reads, the same whatever the source (the one list; the
# help text shows it): the schemas, QEMU's own schema tests and generator, the docs, VERSION, and
# QEMU's python QMP client (qemu.qmp: pure python, self-contained; bench/qmp.ts's baseline), which
# not every tree holds (7.2's does). A pattern that a source has nothing for is simply not kept.
kept=('*/qapi/*' '*/qga/*' '*/storage-daemon/qapi/*' '*/tests/qapi-schema/*' '*/docs/*' '*/scripts/qapi*' '*/VERSION'
  '*/python/qemu/qmp/*.py')

usage() {
  local k
  cat <<'EOF'
Usage: scripts/fetch-qemu.sh [--source auto|debian|upstream] [VERSION...]
       scripts/fetch-qemu.sh --from-tree PATH [VERSION]
       scripts/fetch-qemu.sh --compare [VERSION...]
       scripts/fetch-qemu.sh --list
       scripts/fetch-qemu.sh --find VERSION

Fetches the schema sources of each VERSION (default: every line of scripts/qemu-versions) into
.cache/qemu/VERSION, keeping only what qapi-ts reads, where the source has it:
EOF
  printf ' '
  for k in "${kept[@]}"; do
    k=${k#\*/}
    case $k in */\*) k=${k%\*} ;; esac
    printf ' %s' "$k"
  done
  echo
  cat <<'EOF'
A release whose cache is complete is skipped instantly. A release that cannot be fetched is
reported and the others still are (exit 1); nothing of it is installed. Two fetches into one
cache take turns (a lock on the cache folder, flock where there is one).

Where a release with every schema comes from (--source, or $QAPI_TS_QEMU_SOURCE):
  auto      Debian's source package where apt can deliver it (Debian, as root or once its deb-src
            entry exists), else the upstream release tarball its line pins (default). A cache
            already filled from any of these is kept.
  debian    Debian's source package (apt-get source), as the line names it.
  upstream  QEMU's release tarball, https://download.qemu.org/qemu-X.Y.Z.tar.xz, checked against
            the sha256 its line pins (upstream:X.Y.Z#sha256=...) before anything is extracted.
            $QAPI_TS_QEMU_MIRROR replaces https://download.qemu.org: another URL (file:// too)
            or a local folder holding qemu-X.Y.Z.tar.xz. A line without a pin cannot be.
--from-tree PATH ($QAPI_TS_QEMU_TREE): a local QEMU source tree, which must be the very release
  the line names (its VERSION file; default VERSION: the tree's major.minor).
--compare: fetch each pinned upstream tarball (verified) into a temp folder and list the schema
  files that differ from the cache (Debian repacks QEMU's tarballs); installs nothing; exit 1
  when something differs.
--list: the releases, one line each: VERSION PACKAGE FROM UPSTREAM ('-' for none).
--find VERSION: the Debian source versions of QEMU VERSION (e.g. 10.1) apt knows, newest first.
A line marked bin:SUITE comes from that suite's binary packages (apt and debootstrap), and a
local: line from `npm run add-qemu` (or --from-tree for local:source).
Other variables: $QAPI_TS_CACHE (default .cache/qemu), $QAPI_TS_VERSIONS (default scripts/qemu-versions).
EOF
}
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${QAPI_TS_CACHE:-$root/.cache/qemu}
versions=${QAPI_TS_VERSIONS:-$here/qemu-versions}
mirror=${QAPI_TS_QEMU_MIRROR:-https://download.qemu.org}
src_list=/etc/apt/sources.list.d/qapi-ts-deb-src.sources

die() { echo "fetch-qemu: $*" >&2; exit 1; }

# The one reader of scripts/qemu-versions' format in shell (codegen/generate.ts supportedReleases is
# TypeScript's, with the same rules and messages): "VERSION PACKAGE FROM UPSTREAM" per release, '-'
# for a field the line leaves out. FROM: bin:SUITE, local:source or local:qemu ('-': Debian's source
# package); UPSTREAM: the pinned release tarball, X.Y.Z#sha256=HEX. A line's trailing \r (CRLF) is
# ignored; '#' starts a comment line. A malformed line is an error naming FILE:LINE, and so is a
# VERSION (MAJOR.MINOR: a folder name in the cache) listed twice.
read_releases() {
  [ -f "$versions" ] || die "$versions: no such file"
  awk '
    function bad(msg) { printf "fetch-qemu: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; failed = 1; exit 1 }
    function qemu(msg) { bad("QEMU " v ": " msg) }
    { sub(/\r$/, "") }
    /^#/ || NF == 0 { next }
    {
      v = $1
      if (v !~ /^[0-9]+\.[0-9]+$/) bad("bad version \047" v "\047 (expected MAJOR.MINOR, such as 10.2)")
      if (v in seen) qemu("listed twice (also on line " seen[v] ")")
      seen[v] = FNR
      if (NF < 2 || $2 !~ /^([0-9]+:)?[0-9][0-9A-Za-z.+~-]*$/)
        qemu("bad or missing package version \047" $2 "\047 (expected a Debian version, such as 1:10.2.2+ds-1)")
      from = "-"; up = "-"
      for (i = 3; i <= NF; i++) {
        f = $i
        if (f ~ /^upstream:/) {
          p = substr(f, 10); n = index(p, "#sha256="); full = substr(p, 1, n - 1); hex = substr(p, n + 8)
          if (up != "-" || n == 0 || full !~ /^[0-9]+\.[0-9]+\.[0-9]+$/ || index(full, v ".") != 1 || length(hex) != 64 || hex ~ /[^0-9a-f]/)
            qemu("bad upstream pin \047" f "\047 (expected upstream:" v ".N#sha256=<64 hex digits>, once)")
          up = p
        } else if (from != "-") qemu("unexpected \047" f "\047 after \047" from "\047")
        else if (f !~ /^bin:[0-9A-Za-z.-]+$/ && f != "local:source" && f != "local:qemu")
          qemu("unknown source \047" f "\047 (expected bin:SUITE, local:source or local:qemu)")
        else from = f
      }
      if (up != "-" && from != "-") qemu("an upstream pin goes with Debian\047s source package, not with " from)
      print v, $2, from, up
    }' "$versions"
}
# The releases (only VERSION's when given), as read_releases read them at the start.
releases() { # [VERSION]
  [ -n "$all_releases" ] || return 0
  if [ -n "${1:-}" ]; then printf '%s\n' "$all_releases" | awk -v want="$1" '$1 == want'
  else printf '%s\n' "$all_releases"; fi
}

# Temp folders of this run (of this release's subshell), removed however it ends.
temps=()
cleanup() { rm -rf "${temps[@]+"${temps[@]}"}"; }
new_temp() { # [DIR [PREFIX]]: a fresh folder (in DIR, else $TMPDIR), removed at exit; its path in $made
  # Checked here: a caller may run with set -e off (inside an if), where an empty $made would be the
  # root folder or the current one.
  local where=${1:-${TMPDIR:-/tmp}} what="the cache"
  [ -n "${1:-}" ] || what="\$TMPDIR"
  made=$(mktemp -d "$where/${2:-qapi-ts-fetch}.XXXXXX") && [ -d "$made" ] ||
    die "could not create a temp folder in $where ($what)"
  temps+=("$made")
}

# One fetch at a time into a cache: the lock (on the cache folder itself, so nothing is added to it)
# is held until the release's subshell ends. Without flock (not Linux): a lock folder in the cache.
# A fetch run by this one (scripts/qemu-root.sh may run one) is covered by its lock.
lock_cache() {
  mkdir -p "$cache" || die "could not create $cache"
  [ "${QAPI_TS_FETCH_LOCKED:-}" != "$cache" ] || return 0
  export QAPI_TS_FETCH_LOCKED=$cache
  if command -v flock >/dev/null 2>&1; then
    exec 9<"$cache" || die "could not open $cache to lock it"
    flock -n 9 && return 0
    echo "fetch-qemu: waiting for another fetch into $cache" >&2
    flock 9 || die "could not lock $cache"
  else
    [ -w "$cache" ] || die "$cache is not writable"
    local said=""
    until mkdir "$cache/.lock" 2>/dev/null; do
      [ -n "$said" ] || echo "fetch-qemu: waiting for another fetch into $cache (remove $cache/.lock if none runs)" >&2
      said=1
      sleep 1
    done
    temps+=("$cache/.lock")
  fi
}

gnu_tar() { case $(tar --version 2>/dev/null) in *'GNU tar'*) return 0 ;; *) return 1 ;; esac; }

# Extracts what qapi-ts keeps ($kept, at the top). GNU tar's patterns need --wildcards
# --no-anchored; bsdtar's (macOS) match that way by default. A pattern nothing matches is no error;
# any other complaint of tar's is (a write error, such as a full disk, would leave a truncated
# file), and so is anything extracted that is neither a file nor a folder (a symbolic link could
# point anywhere). Owners and modes (setuid) are not taken from the archive. Every failure exits:
# a caller may run with set -e off.
extract_schemas() { # TARBALL|- DEST
  local how=(--no-same-owner --no-same-permissions) errs status=0 line bad="" k ok odd name=${1##*/}
  [ "$1" != - ] || name="the tree"
  if gnu_tar; then how+=(--wildcards --no-anchored); fi
  errs=$(LC_ALL=C tar -xf "$1" -C "$2" --strip-components=1 "${how[@]}" "${kept[@]}" 2>&1 >/dev/null) || status=$?
  if [ "$status" != 0 ]; then
    while IFS= read -r line; do
      ok=""
      case $line in
        *": Exiting with failure status due to previous errors" | *": Error exit delayed from previous errors.") ok=1 ;;
        *": Not found in archive")
          for k in "${kept[@]}"; do
            if [ "$line" = "${line%%: *}: $k: Not found in archive" ]; then ok=1; fi
          done ;;
      esac
      [ -n "$ok" ] || bad+="  $line"$'\n'
    done <<<"$errs"
    [ -n "$errs" ] || bad="  tar: exit status $status"$'\n'
    [ -z "$bad" ] || die "could not extract ${name}:"$'\n'"${bad%$'\n'}"$'\n'"nothing was installed"
  elif [ -n "$errs" ]; then
    printf '%s\n' "$errs" >&2
  fi
  odd=$(cd "$2" && find . ! -type f ! -type d) || die "could not read what was extracted into $2"
  if [ -n "$odd" ]; then
    bad=""
    while IFS= read -r line; do
      line=${line#./}
      if [ -L "$2/$line" ]; then bad+="  $line -> $(readlink "$2/$line")"$'\n'; else bad+="  $line"$'\n'; fi
    done <<<"$odd"
    die "${name} holds what is neither a file nor a folder (symbolic links are not taken):"$'\n'"${bad%$'\n'}"$'\n'"nothing was installed"
  fi
}

# Puts a filled staging folder (in the cache folder: the rename is atomic) in place of the release's
# cache folder, with its stamp (where the files came from: a release whose source changes is fetched
# again). The caller holds the cache's lock (lock_cache).
install_cache() { # STAGING DEST STAMP
  local f
  for f in qapi/qapi-schema.json qga/qapi-schema.json storage-daemon/qapi/qapi-schema.json VERSION; do
    [ -f "$1/$f" ] || die "$(basename "$2"): $f missing after extraction (not a QEMU source?)"
  done
  place_cache "$@"
}
place_cache() { # STAGING DEST STAMP
  echo "$3" > "$1/.complete" || die "could not write $1/.complete"
  chmod "$(umask -S)" "$1" || die "could not chmod $1" # mktemp's folder is private: the cache's are not
  rm -rf "$2" || die "could not remove the old $2"
  [ ! -e "$2" ] || die "could not remove the old $2"
  mv "$1" "$2" || die "could not move $1 to $2"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | awk '{ print $1 }'
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | awk '{ print $1 }'
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | awk '{ print $1 }'
  else die "need sha256sum, shasum or openssl to check $1"; fi
}

download() { # URL|PATH FILE
  case $1 in
    file://*) cp -- "${1#file://}" "$2" ;;
    *://*)
      if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 2 -o "$2" "$1"
      elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
      else die "need curl or wget to download $1"; fi ;;
    *) cp -- "$1" "$2" ;;
  esac
}

# The QEMU version a line stands for: its upstream pin's, else its package's upstream part
# (1:10.0.13+ds-0+deb13u1 -> 10.0.13; 1:7.2+dfsg-7 -> 7.2.0, as QEMU numbers a .0 release).
full_version() { # PACKAGE UPSTREAM
  local v
  if [ "$2" != - ]; then v=${2%%#*}; else v=$(echo "$1" | sed -E 's/^[0-9]+://; s/[+~-].*$//'); fi
  case $v in *.*.*) ;; *) v=$v.0 ;; esac
  echo "$v"
}

# Can apt deliver Debian's source packages here? Adds the deb-src entry (derived from the machine's
# own Debian entries, so no host is written in our files) the first time. Else says why in $why.
why=""
debian_ready() {
  if ! command -v apt-get >/dev/null 2>&1; then why="apt-get is not available here"; return 1; fi
  [ -f "$src_list" ] && return 0
  if [ "$(id -u)" != 0 ]; then why="need root to add a deb-src entry ($src_list)"; return 1; fi
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
    uris=$(awk '$1 == "deb" && $0 !~ /security/ && $0 ~ /(bookworm|trixie|sid|forky)/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
    keyring=$(ls /usr/share/keyrings/debian-archive-keyring.gpg 2>/dev/null || true)
    [ -n "$uris" ] && out=$(printf "Types: deb-src\nURIs: %s\nSuites: bookworm trixie sid\nComponents: main\n%s\n" "$uris" "${keyring:+Signed-By: $keyring}")
  fi
  if [ -z "$out" ]; then why="found no Debian apt source entry to derive a deb-src entry from"; return 1; fi
  if ! printf '%s\n' "$out" > "$src_list"; then why="could not write $src_list"; return 1; fi
  if ! apt-get update -qq; then rm -f "$src_list"; why="apt-get update failed after adding $src_list"; return 1; fi
}
ensure_deb_src() { debian_ready || die "$why"; }

# Debian's source package: its .orig tarball (upstream's, repacked without non-free or bundled files;
# Debian's own patches are not applied). Returns 1 with $why when apt cannot deliver it here.
fetch_debian() { # PACKAGE STAGING
  local debver=$1 orig
  debian_ready || return 1
  new_temp
  echo "fetch-qemu: downloading qemu=$debver source package" >&2
  if ! (cd "$made" && apt-get source --download-only -qq "qemu=$debver" >"$made/apt.log" 2>&1); then
    # A version apt lists may still be missing from the mirror: say so plainly.
    sed 's/^/  /' "$made/apt.log" | tail -n 5 >&2
    why="apt could not deliver the source of qemu=$debver (is it still on the mirror? try 'apt-cache showsrc qemu')"
    return 1
  fi
  orig=$(ls "$made"/qemu_*.orig.tar.* 2>/dev/null | head -n 1)
  [ -n "$orig" ] || die "no upstream tarball in the downloaded source of qemu=$debver"
  extract_schemas "$orig" "$2"
}

# QEMU's release tarball, checked against its pin before anything is extracted.
fetch_upstream() { # PIN STAGING
  local full=${1%%#*} want=${1#*#sha256=} name url got
  [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+#sha256=[0-9a-f]{64}$ ]] || die "bad upstream pin '$1' in $versions (expected upstream:X.Y.Z#sha256=<64 hex digits>)"
  name=qemu-$full.tar.xz
  url=${mirror%/}/$name
  new_temp
  echo "fetch-qemu: downloading $url" >&2
  download "$url" "$made/$name" || die "could not download $url"
  got=$(sha256_of "$made/$name")
  [ "$got" = "$want" ] ||
    die "$name: sha256 mismatch: expected $want (scripts/qemu-versions), got $got (downloaded from $url); nothing was extracted"
  if gnu_tar && ! command -v xz >/dev/null 2>&1; then die "need xz (xz-utils) to extract $name"; fi
  extract_schemas "$made/$name" "$2"
  local says=nothing
  [ ! -f "$2/VERSION" ] || says=$(tr -d '[:space:]' < "$2/VERSION")
  [ "$says" = "$full" ] || die "$name: its VERSION file says ${says:-nothing}, not $full"
}

# A local QEMU source tree (its build/ folder and .git left out).
fetch_tree() { # TREE STAGING
  (cd "$1" && tar -cf - --exclude=.git --exclude=./build .) | extract_schemas - "$2"
}

# A release whose source package cannot be had: the guest agent's schema, as qemu-guest-agent
# ships it, from the Debian root of that suite (scripts/qemu-root.sh), and the version it reports.
fetch_binary() {
  local ver=$1 debver=$2 suite=$3 dest=$cache/$1 root work got
  debian_ready || die "QEMU $ver comes from Debian $suite's binary packages only (scripts/qemu-versions: bin:$suite), which need apt and debootstrap: $why"
  root=$(bash "$here/qemu-root.sh" "$suite" 9<&-)
  local doc=$root/usr/share/doc/qemu-guest-agent/qapi-schema.json.gz
  [ -f "$doc" ] || die "$suite root: no $doc (qemu-guest-agent not installed there?)"
  # The exact package version, read from the root's dpkg database (no chroot: no root needed).
  got=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Version}' qemu-guest-agent 2>/dev/null || true)
  [ "$got" = "$debver" ] || die "$suite root has qemu-guest-agent ${got:-(none)}, not $debver: rebuild it (rm -rf $root; bash scripts/qemu-root.sh $suite) or update scripts/qemu-versions"
  # Staged in the cache folder: the final rename is atomic.
  new_temp "$cache" ".$ver"; work=$made
  mkdir -p "$work/qga"
  gunzip -c "$doc" > "$work/qga/qapi-schema.json"
  # The upstream version: 1:11.1.3+ds-1 -> 11.1.3.
  echo "$debver" | sed -E 's/^[0-9]+://; s/[+~-].*$//' > "$work/VERSION"
  # QMP as the binary reports it (its schema source is in no package), and its reference for docs.
  local man=$root/usr/share/man/man7/qemu-qmp-ref.7.gz reported
  [ -f "$man" ] || die "$suite root: no $man (qemu-system-common not installed there?)"
  mkdir -p "$work/qapi"
  reported=$(python3 "$here/introspect.py" "$root" "$work/qapi/introspection.json" 9<&-) ||
    die "$suite root: could not read QEMU's introspection"
  [ "$reported" = "$(cat "$work/VERSION")" ] || die "$suite root's QEMU says it is $reported, not $(cat "$work/VERSION")"
  cp "$man" "$work/qapi/qemu-qmp-ref.7.gz"
  place_cache "$work" "$dest" "$debver bin:$suite qmp"
  echo "fetch-qemu: $ver (guest agent schema, QMP introspection and reference, from $suite's binary packages) ready in $dest" >&2
}

want_source=${QAPI_TS_QEMU_SOURCE:-auto}
tree=${QAPI_TS_QEMU_TREE:-}

fetch_one() {
  local ver=$1 line debver from pin dest full
  line=$(releases "$ver")
  [ -n "$line" ] || die "unknown QEMU version '$ver' (known: $(releases | awk '{ printf "%s ", $1 }'))"
  read -r _ debver from pin <<<"$line"
  dest=$cache/$ver
  full=$(full_version "$debver" "$pin")
  local have="" stamp
  trap cleanup EXIT
  # Another fetch into this cache may be filling this very release: its result is read once it is done.
  lock_cache
  [ ! -f "$dest/.complete" ] || have=$(cat "$dest/.complete")
  if [ -n "$tree" ]; then
    local got
    case $from in bin:* | local:qemu) die "QEMU $ver is listed as $from (scripts/qemu-versions), not as a source release: --from-tree fills a release with every schema" ;; esac
    [ -f "$tree/VERSION" ] || die "--from-tree $tree: not a QEMU source tree (no VERSION file)"
    got=$(tr -d '[:space:]' < "$tree/VERSION")
    [ "$got" = "$full" ] || die "--from-tree $tree: that tree is QEMU $got, but scripts/qemu-versions has QEMU $ver as $full"
    new_temp "$cache" ".$ver"
    local staging=$made
    fetch_tree "$tree" "$staging"
    # A local:source line keeps the stamp add-qemu gave it.
    if [ "$from" = local:source ]; then stamp="$debver local:source"; else stamp="tree:$full"; fi
    install_cache "$staging" "$dest" "$stamp"
    echo "fetch-qemu: $ver ready in $dest (from the QEMU $full tree $tree)" >&2
    return 0
  fi
  case $from in
    bin:*)
      # A binary release's cache holds QMP's introspection too (since its stamp says qmp).
      [ "$have" = "$debver $from qmp" ] && return 0
      [ "$want_source" = upstream ] && die "QEMU $ver comes from Debian ${from#bin:}'s binary packages (scripts/qemu-versions: $from), not from an upstream tarball"
      fetch_binary "$ver" "$debver" "${from#bin:}"
      return 0 ;;
    local:*)
      [ "$have" = "$debver $from" ] && return 0
      # Added from a local QEMU tree or binary (npm run add-qemu): nothing to download it from.
      local hint=""
      [ "$from" = local:source ] && hint=" (or fetch it from its tree: --from-tree PATH)"
      die "QEMU $ver was added from a local ${from#local:} (scripts/qemu-versions says $from) and $dest is missing or stale: add it again with npm run add-qemu$hint, or from a fetchable source" ;;
  esac
  # The stamps of a cache this --source accepts as it is (auto: any source of this very release).
  local debian_stamp=$debver upstream_stamp=upstream:$pin s accepted=()
  case $want_source in
    auto) accepted=("$debian_stamp" "tree:$full"); [ "$pin" = - ] || accepted+=("$upstream_stamp") ;;
    debian) accepted=("$debian_stamp") ;;
    upstream) [ "$pin" = - ] || accepted=("$upstream_stamp") ;;
  esac
  for s in "${accepted[@]+"${accepted[@]}"}"; do [ "$have" = "$s" ] && return 0; done
  if [ "$want_source" = upstream ] && [ "$pin" = - ]; then
    # Nothing to take instead of the cache this release has.
    if [ "$have" = "$debian_stamp" ] || [ "$have" = "tree:$full" ]; then
      echo "fetch-qemu: QEMU $ver: no upstream tarball pinned; its cache stays as it is ($have)" >&2
      return 0
    fi
    die "QEMU $ver: scripts/qemu-versions pins no upstream tarball for it (upstream:$full#sha256=...): fetch it from Debian (--source debian) or from a QEMU $full source tree (--from-tree PATH)"
  fi
  new_temp "$cache" ".$ver"
  local staging=$made
  if [ "$want_source" != upstream ]; then
    if fetch_debian "$debver" "$staging"; then
      install_cache "$staging" "$dest" "$debian_stamp"
      echo "fetch-qemu: $ver ready in $dest" >&2
      return 0
    fi
    [ "$want_source" = debian ] && die "$why"
    [ "$pin" = - ] && die "$why; and scripts/qemu-versions pins no upstream tarball for QEMU $ver: fetch it from a QEMU $full source tree (--from-tree PATH)"
    echo "fetch-qemu: $ver: Debian's source package cannot be had here: $why; using QEMU's release tarball instead" >&2
  fi
  fetch_upstream "$pin" "$staging"
  install_cache "$staging" "$dest" "$upstream_stamp"
  echo "fetch-qemu: $ver ready in $dest (from qemu-$full.tar.xz, sha256 checked)" >&2
}

# The schema files that differ between folder A and folder B (the cache), into OUT/differ, one a
# line, by their path relative to both (no folder's path is interpreted: either may hold any
# character). Anything that cannot be listed or compared is an error, not a difference.
schema_differences() { # A B A_NAME OUT
  local side f status n=0
  for side in "$1" "$2"; do
    n=$((n + 1))
    (cd "$side" && for f in qapi qga storage-daemon/qapi VERSION; do [ ! -e "$f" ] || find "$f" -type f; done) >"$4/list$n" ||
      die "could not list the schema files in $side"
    LC_ALL=C sort "$4/list$n" >"$4/sorted$n" || die "could not sort $4/list$n"
  done
  : >"$4/lines"
  LC_ALL=C comm -23 "$4/sorted1" "$4/sorted2" >"$4/only1" || die "comm failed"
  LC_ALL=C comm -13 "$4/sorted1" "$4/sorted2" >"$4/only2" || die "comm failed"
  LC_ALL=C comm -12 "$4/sorted1" "$4/sorted2" >"$4/both" || die "comm failed"
  while IFS= read -r f; do printf '%s: only in %s\n' "$f" "$3"; done <"$4/only1" >>"$4/lines"
  while IFS= read -r f; do printf '%s: only in the cache\n' "$f"; done <"$4/only2" >>"$4/lines"
  while IFS= read -r f; do
    status=0
    cmp -s "$1/$f" "$2/$f" || status=$?
    case $status in
      0) ;;
      1) printf '%s differs\n' "$f" >>"$4/lines" ;;
      *) die "could not compare $f of $1 and $2 (cmp: status $status)" ;;
    esac
  done <"$4/both"
  LC_ALL=C sort "$4/lines" >"$4/differ" || die "could not sort $4/lines"
}

# Each pinned release's upstream tarball, verified, against the cache: the schema files that differ.
compare_one() {
  local ver=$1 line debver from pin dest full differ
  line=$(releases "$ver")
  [ -n "$line" ] || die "unknown QEMU version '$ver' (known: $(releases | awk '{ printf "%s ", $1 }'))"
  read -r _ debver from pin <<<"$line"
  trap cleanup EXIT
  [ "$pin" != - ] || { echo "fetch-qemu: $ver: no upstream tarball pinned, nothing to compare" >&2; return 0; }
  dest=$cache/$ver
  [ -f "$dest/.complete" ] || die "$ver: nothing in $dest to compare with: fetch it first"
  full=$(full_version "$debver" "$pin")
  local stage lists
  new_temp; stage=$made
  new_temp; lists=$made
  fetch_upstream "$pin" "$stage"
  schema_differences "$stage" "$dest" "qemu-$full.tar.xz" "$lists"
  differ=$(cat "$lists/differ")
  if [ -z "$differ" ]; then
    echo "fetch-qemu: $ver: the schemas in $dest ($(cat "$dest/.complete")) are qemu-$full.tar.xz's, byte for byte"
  else
    echo "fetch-qemu: $ver: the schemas in $dest ($(cat "$dest/.complete")) differ from qemu-$full.tar.xz's:"
    echo "$differ" | sed 's/^/  /'
    return 1
  fi
}

case ${1:-} in -h | --help) usage; exit 0 ;; esac
# scripts/qemu-versions, read (and checked) once.
all_releases=$(read_releases) || exit 1
case ${1:-} in
  --list) [ $# -eq 1 ] || die "usage: fetch-qemu.sh --list"; releases; exit 0 ;;
  --find)
    # The Debian source versions of QEMU VERSION (e.g. 10.1) apt knows, newest first, each with its
    # suite (a binary-only rebuild such as +b3 is not a source version: binaries are found through
    # their suite).
    [ $# -eq 2 ] || die "usage: fetch-qemu.sh --find VERSION"
    ensure_deb_src
    apt-cache madison qemu 2>/dev/null |
      awk -F'|' -v v="$2" '{
        gsub(/ /, "", $2); n = split($3, where, " "); if (where[n] != "Sources") next
        split(where[2], sw, "/")
        up = $2; sub(/^[0-9]+:/, "", up); sub(/[+~-].*$/, "", up)
        if (index(up ".", v ".") == 1) print $2, sw[1]
      }' | sort -u -k1,1Vr
    exit 0 ;;
esac
action=fetch_one
wanted=()
while [ $# -gt 0 ]; do
  case $1 in
    --source) [ $# -ge 2 ] || die "--source needs auto, debian or upstream"; want_source=$2; shift 2 ;;
    --source=*) want_source=${1#*=}; shift ;;
    --from-tree) [ $# -ge 2 ] || die "--from-tree needs a QEMU source tree"; tree=$2; shift 2 ;;
    --from-tree=*) tree=${1#*=}; shift ;;
    --compare) action=compare_one; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) wanted+=("$1"); shift ;;
  esac
done
case $want_source in auto | debian | upstream) ;; *) die "--source $want_source: expected auto, debian or upstream" ;; esac
if [ -n "$tree" ]; then
  [ -d "$tree" ] || die "--from-tree $tree: no such folder"
  tree=$(cd "$tree" && pwd)
  [ ${#wanted[@]} -le 1 ] || die "--from-tree fills one release (the tree's)"
  if [ ${#wanted[@]} -eq 0 ]; then
    [ -f "$tree/VERSION" ] || die "--from-tree $tree: not a QEMU source tree (no VERSION file)"
    wanted=("$(tr -d '[:space:]' < "$tree/VERSION" | cut -d. -f1,2)")
    [ -n "$(releases "${wanted[0]}")" ] ||
      die "--from-tree $tree: QEMU $(tr -d '[:space:]' < "$tree/VERSION") is not in scripts/qemu-versions (add a release with npm run add-qemu -- ${wanted[0]} --from-source PATH)"
  fi
fi
[ ${#wanted[@]} -gt 0 ] || wanted=($(releases | awk '{ print $1 }'))
failed=()
for v in "${wanted[@]}"; do
  # Each release in its own subshell: one that cannot be fetched (die) does not stop the others.
  set +e
  (set -e; "$action" "$v")
  status=$?
  set -e
  [ $status -eq 0 ] || failed+=("$v")
done
if [ ${#failed[@]} -gt 0 ]; then
  [ ${#wanted[@]} -gt 1 ] && echo "fetch-qemu: not done: ${failed[*]} (see above)" >&2
  exit 1
fi
