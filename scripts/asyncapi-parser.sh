#!/usr/bin/env bash
# Installs the official AsyncAPI parser (tools/asyncapi-parser, npm) that the tests run over every
# contract in the repository (MQ-1). Needs Node.js 18+ and npm: installed with apt when running as
# root and missing, otherwise reported with the command that installs them.
set -euo pipefail
cd "$(dirname "$0")/../tools/asyncapi-parser"

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "asyncapi-parser: installing nodejs and npm with apt" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "asyncapi-parser: missing node/npm (run as root: apt-get install -y nodejs npm)" >&2
    exit 1
  fi
fi

# The folder's .npmrc keeps the lock file free of download addresses and disables install scripts.
npm ci --no-audit --no-fund --loglevel=error
touch node_modules/.installed
