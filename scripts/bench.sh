#!/usr/bin/env bash
# Benchmarks against the named peers, printed side by side in one run (not timed tests).
#
#   clamp verify  vs  sha256sum -c   on a ROCm-like tree of ~20,000 files and ~1 GB
#
# Usage: scripts/bench.sh [--files N] [--megabytes M] [--runs R]
# Each timing is the best of R runs with a warm page cache (both tools read the same files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=20000 megabytes=1024 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --megabytes) megabytes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

cargo build --release --quiet
bin=$PWD/target/release/rocforge-ci
work=$(mktemp -d "${TMPDIR:-/tmp}/rocforge-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

best_of() { # best wall time in seconds of "$@" over $runs runs
  local best="" start end t
  for _ in $(seq "$runs"); do
    start=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '%.3f' "$best"
}

peak_kib() { # peak resident set of "$@" in KiB
  /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1
}

echo "== building a ROCm-like tree: $files files, ~$megabytes MB"
python3 - "$work/opt/rocm-6.4.4" "$files" "$megabytes" <<'PY'
import os, sys, random
root, files, megabytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
big = max(1, files // 200)               # a few large libraries carry most of the bytes
big_size = megabytes * 1024 * 1024 * 8 // 10 // big
small_size = megabytes * 1024 * 1024 * 2 // 10 // max(1, files - big)
block = os.urandom(1 << 20)
for i in range(files):
    d = os.path.join(root, ["lib", "include", "share", "bin"][i % 4], "d%03d" % (i % 250))
    os.makedirs(d, exist_ok=True)
    size = big_size if i < big else max(1, int(random.expovariate(1 / small_size)))
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(64))              # every file differs
        left = size
        while left > 0:
            n = min(left, len(block)); f.write(block[:n]); left -= n
PY
ln -s "$work/opt/rocm-6.4.4" "$work/opt/rocm"
du -sh "$work/opt/rocm-6.4.4" | sed 's/^/   tree: /'

(cd "$work" && "$bin" clamp capture --target "$work/opt/rocm" --output "$work/clamp" >/dev/null)
(cd "$work/opt/rocm-6.4.4" && find . -type f -print0 | xargs -0 sha256sum > "$work/SHA256SUMS")

echo "== clamp verify vs sha256sum -c (best of $runs, warm cache)"
peer=$(cd "$work/opt/rocm-6.4.4" && best_of sha256sum --quiet -c "$work/SHA256SUMS")
ours=$(cd "$work" && best_of "$bin" clamp verify --manifest "$work/clamp/manifest.json")
rss=$(cd "$work" && peak_kib "$bin" clamp verify --manifest "$work/clamp/manifest.json")
ratio=$(echo "$peer / $ours" | bc -l)
printf '%-28s %10s %10s %8s %s\n' "benchmark" "peer (s)" "ours (s)" "ratio" "target"
printf '%-28s %10s %10s %7.1fx %s\n' "clamp verify (${files} files)" "$peer" "$ours" "$ratio" ">= 8x"
printf '%-28s %10s %10s\n' "clamp verify peak RSS" "" "$((rss / 1024)) MiB"
