#!/usr/bin/env bash
# Installs what awacompat needs on a fresh Debian machine and is a no-op when it is there:
# a PostgreSQL server (initdb + postgres) for the embedded default, python3 with venv,
# chromium with the DejaVu fonts, in which the report tests open report.html and support.svg,
# and a Docker engine (Debian's docker.io, dockerd started when none answers) for postgres.image
# and container artifacts. Without an engine the container tests skip and say why.
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

# A Docker engine for the container tests. Failing to get one is not fatal: those tests skip
# with the reason.
docker_answers() { timeout 5 docker info >/dev/null 2>&1; }
if ! docker_answers && [ "$(id -u)" = 0 ]; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "awacompat setup: installing docker.io" >&2
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null ||
      echo "awacompat setup: could not install docker.io; container tests will be skipped" >&2
  fi
  if command -v dockerd >/dev/null 2>&1 && ! docker_answers; then
    echo "awacompat setup: starting dockerd (log: /var/log/awacompat-dockerd.log)" >&2
    # The daemon outlives this script: in its own session, and without the caller's open files
    # (a lock a caller holds, make's jobserver pipe), which it would otherwise hold forever.
    (
      for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
      done
      exec setsid dockerd >/var/log/awacompat-dockerd.log 2>&1 </dev/null
    ) &
    for _ in $(seq 1 60); do docker_answers && break; sleep 0.5; done
  fi
fi
if docker_answers; then
  echo "awacompat setup: Docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers" >&2
else
  echo "awacompat setup: no Docker engine answers; container tests will be skipped (see /var/log/awacompat-dockerd.log)" >&2
fi
