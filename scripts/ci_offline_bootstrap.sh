#!/usr/bin/env bash
# Offline bootstrap for CI: validates ci/rocm_matrix.yml and the pinned data, resolves from
# cached tarballs, records the mode, and writes build/run.json. Makes no network call.
# Exit codes are rocforge-ci's: 0 OK, 1 warning (the job may continue), 2 failure.
set -euo pipefail
rocforge_ci=${ROCFORGE_CI:-rocforge-ci}
if ! command -v "$rocforge_ci" >/dev/null 2>&1; then
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  rocforge_ci="$root/target/release/rocforge-ci"
  [ -x "$rocforge_ci" ] || cargo build --release --quiet --manifest-path "$root/Cargo.toml"
fi
status=0
"$rocforge_ci" offline-bootstrap "$@" || status=$?
if [ "$status" -eq 1 ]; then
  echo "rocforge-ci: offline bootstrap finished with warnings" >&2
  exit 0
fi
exit "$status"
