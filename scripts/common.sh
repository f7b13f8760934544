# Shared helpers for the build scripts. Sourced, not run.
# Everything expensive lives in $DAXFS_CACHE, keyed by a hash of what made it,
# so a fresh clone on a used machine reuses it and an edit rebuilds only what it touches.
set -euo pipefail
PROJ=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DAXFS_CACHE=${DAXFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/daxfs}
mkdir -p "$DAXFS_CACHE"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { printf '\033[1;34m[daxfs]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[daxfs] error:\033[0m %s\n' "$*" >&2; exit 1; }

# key FILE... : short content hash of the given files (the cache key).
key() { cat "$@" | sha256sum | cut -c1-12; }

need_root() { [ "$(id -u)" = 0 ] || die "this step needs root (apt-get, debootstrap, chroot): run as root"; }

# Host packages: installed once, only what is missing.
host_deps() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  log "installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

TOOLCHAIN_KEY=$(key "$PROJ/scripts/toolchain.sh")
TC="$DAXFS_CACHE/toolchain-$TOOLCHAIN_KEY"

# in_tc CMD...: run CMD inside the trixie toolchain chroot, in a private mount
# namespace (nothing stays mounted afterwards), with the project at /project,
# the cache at /cache and a user's KERNEL_SRC (if any) at /ksrc.
in_tc() {
  need_root
  unshare -m -- /bin/bash -c '
    set -e; tc=$1; proj=$2; cache=$3; ksrc=$4; shift 4
    mount -t proc proc "$tc/proc"
    mount --rbind /dev "$tc/dev"
    mkdir -p "$tc/project" "$tc/cache" "$tc/ksrc"
    mount --bind "$proj" "$tc/project"
    mount --bind "$cache" "$tc/cache"
    [ -z "$ksrc" ] || mount --bind "$ksrc" "$tc/ksrc"
    # Trust what the host trusts (e.g. a proxy CA) for cargo downloads.
    ca=/etc/ssl/certs/ca-certificates.crt
    if [ -f "$ca" ] && [ -f "$tc$ca" ]; then mount --bind -o ro "$ca" "$tc$ca"; fi
    exec chroot "$tc" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 \
      ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} ${no_proxy:+no_proxy=$no_proxy} \
      ${HTTP_PROXY:+HTTP_PROXY=$HTTP_PROXY} ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} ${NO_PROXY:+NO_PROXY=$NO_PROXY} "$@"
  ' in_tc "$TC" "$PROJ" "$DAXFS_CACHE" "${KERNEL_SRC:-}" "$@"
}
