#!/usr/bin/env bash
# Installs the Debian packages lvs-go's tests and demo use, only when some are
# missing: `apt-get update` once, then `apt-get install -y`. Safe to re-run.
# Usage: scripts/install-deps.sh [--quiet]
set -euo pipefail

# package:command-that-proves-it-is-installed
want=(
  iproute2:ip
  nftables:nft
  iputils-ping:ping
  tcpdump:tcpdump
  curl:curl
  nginx:nginx
  vsftpd:vsftpd
  lftp:lftp
  procps:pgrep
  man-db:man
  util-linux:flock
  chromium:chromium
  prometheus:promtool
  lintian:lintian
  binutils:objdump
  bird2:bird
)

missing=()
for pair in "${want[@]}"; do
  pkg=${pair%%:*} cmd=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  [ "${1:-}" = --quiet ] || echo "install-deps: all system packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root to install them (tests that need them will skip)" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx, vsftpd and bird (BIRD 2, the ECMP tests' router) as
# services on install; the simulator runs its own copies inside namespaces,
# so stop the host-wide ones it does not need.
for svc in nginx vsftpd bird; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
# Debian's prometheus (there for promtool) starts a server on :9090; the
# tests only run promtool, so stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
  systemctl disable prometheus >/dev/null 2>&1 || true
fi
echo "install-deps: done"
