#!/usr/bin/env bash
# Installs what awacompat needs on a fresh Debian machine and is a no-op when it is there:
# a PostgreSQL server (initdb + postgres) for the embedded default, python3 with venv, and
# chromium with the DejaVu fonts, in which the report tests open report.html and support.svg.
# Go, cargo and python3 are expected on the machine (README.md, Quick start).
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

need=()
have_server || need+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v chromium >/dev/null 2>&1 || [ -n "${AWACOMPAT_CHROMIUM:-}" ] || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "awacompat setup: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) and rerun" >&2
    exit 1
  fi
  echo "awacompat setup: installing ${need[*]}" >&2
  # Wait for another apt/dpkg run (unattended upgrades, a parallel setup) instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's package starts a cluster of its own; awacompat never uses it.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in /etc/postgresql/*/main; do
      [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop 2>/dev/null || true
    done
  fi
fi
for tool in go python3 cargo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "awacompat setup: $tool is not on PATH" >&2; exit 1; }
done
