#!/usr/bin/env bash
# Installs moto server (PyPI) into a virtualenv in a cache outside the repo, once per version,
# and prints the path of its `moto_server` executable. Used by the AWS-backend integration test.
set -euo pipefail
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
cache="${GUARDIAN_CACHE:-$HOME/.cache/guardian}/moto-${MOTO_VERSION}"
if [ ! -x "$cache/bin/moto_server" ]; then
  echo "installing moto[server]==${MOTO_VERSION} into $cache" >&2
  rm -rf "$cache"
  python3 -m venv "$cache"
  "$cache/bin/pip" install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}" >&2
fi
echo "$cache/bin/moto_server"
