#!/usr/bin/env bash
# Installs moto server (PyPI) into a virtualenv in a cache outside the repo, once per version,
# and prints the path of its `moto_server` executable. Used by the AWS-backend integration test.
set -euo pipefail
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
cache="${GUARDIAN_CACHE:-$HOME/.cache/guardian}/moto-${MOTO_VERSION}"
# A venv cannot be moved (its scripts name their interpreter by path), so it is built in place
# and a marker written last tells a finished install from an interrupted one.
if [ ! -f "$cache/.installed" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "tools/moto/ensure.sh: python3 with the venv and ensurepip modules is required (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "installing moto[server]==${MOTO_VERSION} into $cache" >&2
  rm -rf "$cache"
  python3 -m venv "$cache"
  "$cache/bin/pip" install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}" >&2
  touch "$cache/.installed"
fi
echo "$cache/bin/moto_server"
