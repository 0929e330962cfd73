#!/usr/bin/env bash
# Installs Debian's `prometheus` package (the real server the integration tier scrapes the demo
# API with) once, and prints the path of its executable. Idempotent: nothing is done when a
# `prometheus` is already on PATH. The package's own service is never started: the install runs
# under a policy-rc.d that forbids starting services (as Debian's container images ship), and
# the tests start their own server on a loopback port with a throwaway config and storage.
#
# Environment: GUARDIAN_PROMETHEUS (a prometheus executable to use instead; nothing is installed).
set -euo pipefail

if [[ -n "${GUARDIAN_PROMETHEUS:-}" ]]; then
  echo "$GUARDIAN_PROMETHEUS"
  exit 0
fi
if found="$(command -v prometheus)"; then
  echo "$found"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "tools/prometheus/ensure.sh: no prometheus on PATH and no apt-get to install Debian's package; install Prometheus 2.x or set GUARDIAN_PROMETHEUS" >&2
  exit 1
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "tools/prometheus/ensure.sh: installing Debian's prometheus package needs root (apt-get); run 'apt-get install -y --no-install-recommends prometheus' as root or set GUARDIAN_PROMETHEUS" >&2
    exit 1
  fi
  sudo=(sudo -n)
fi

# Debian starts a package's service on install unless policy-rc.d says no (exit 101). Where the
# machine has none, one is put in place for the install and removed afterwards, so no Prometheus
# keeps running (or starts at boot) outside the tests.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# tools/prometheus/ensure.sh: no service starts during this install\nexit 101\n' |
    "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if ((own_policy)); then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

t0=$SECONDS
echo "installing Debian's prometheus package (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
# Other jobs may hold the dpkg lock (another install on a shared runner): wait for it, bounded.
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus >&2
# A systemd machine may have enabled the unit; nothing of it is wanted outside the tests.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "prometheus installed in $((SECONDS - t0))s" >&2
command -v prometheus
