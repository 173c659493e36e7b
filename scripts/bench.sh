#!/usr/bin/env bash
# Benchmarks against the named peers, printed side by side in one run (not timed tests).
#
#   update        vs  skopeo inspect per tag   on a local registry holding 300 tags
#   clamp verify  vs  sha256sum -c             on a ROCm-like tree of ~20,000 files and ~1 GB
#
# Usage: scripts/bench.sh [--only update|clamp] [--files N] [--megabytes M] [--runs R]
# Each timing is the best of R runs with a warm page cache (both tools read the same files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=20000 megabytes=1024 runs=3 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=$2; shift 2 ;;
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
registry_pid=""

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

results=()

if [ -z "$only" ] || [ "$only" = update ]; then
echo "== update over 300 tags vs skopeo inspect per tag"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
python3 - "$work/layout" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]; os.makedirs(d + "/blobs/sha256", exist_ok=True)
def blob(b):
    h = hashlib.sha256(b).hexdigest(); open(f"{d}/blobs/sha256/{h}", "wb").write(b); return "sha256:" + h, len(b)
layer = blob(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00")
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg[0], "size": cfg[1]},
  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer[0], "size": layer[1]}]}).encode())
open(d + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(d + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man[0], "size": man[1], "annotations": {"org.opencontainers.image.ref.name": "x"}}]}))
PY
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:x" "docker://127.0.0.1:$port/rocm/dev:6.0.0-ubuntu-22.04"
manifest=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/rocm/dev:6.0.0-ubuntu-22.04")
tags=()
for major in 6 7 8; do for minor in $(seq 0 9); do for patch in $(seq 0 9); do tags+=("$major.$minor.$patch-ubuntu-22.04"); done; done; done
for tag in "${tags[@]}"; do
  curl -sf -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "$manifest" \
    "http://127.0.0.1:$port/v2/rocm/dev/manifests/$tag" > /dev/null
done
mkdir -p "$work/ws/ci"
printf 'rocm:\n  image: 127.0.0.1:%s/rocm/dev\n  images:\n    - version: "6.0.0"\n      os: ubuntu-22.04\n' "$port" > "$work/ws/ci/rocm_matrix.yml"
printf 'policy:\n  preferred_os: [ubuntu-22.04]\n' > "$work/ws/ci/rocm_policy.yml"
skopeo_all() { for tag in "${tags[@]}"; do skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/rocm/dev:$tag" > /dev/null; done; }
peer=$(runs=1 best_of skopeo_all)
ours=$(cd "$work/ws" && best_of "$bin" update --dry-run)
results+=("$(printf '%-28s %10s %10s %7.1fx %s' "update (${#tags[@]} tags)" "$peer" "$ours" "$(echo "$peer / $ours" | bc -l)" ">= 20x")")
fi

if [ -z "$only" ] || [ "$only" = clamp ]; then
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
results+=("$(printf '%-28s %10s %10s %7.1fx %s' "clamp verify (${files} files)" "$peer" "$ours" "$(echo "$peer / $ours" | bc -l)" ">= 8x")")
results+=("$(printf '%-28s %10s %10s' "clamp verify peak RSS" "" "$((rss / 1024)) MiB")")
fi

echo
printf '%-28s %10s %10s %8s %s\n' "benchmark" "peer (s)" "ours (s)" "ratio" "target"
printf '%s\n' "${results[@]}"
