#!/usr/bin/env bash
# `npm run test:engines`: the real-engine suites. Starts the shared engines when they are not up
# (and then stops them after), runs vitest's engine projects, passes vitest's exit status on.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/engines.sh status >/dev/null 2>&1; then
  trap 'bash scripts/engines.sh stop' EXIT # also on Ctrl-C
  bash scripts/engines.sh start || exit 1
fi
npx vitest run --project engines --project engines-store "$@"
