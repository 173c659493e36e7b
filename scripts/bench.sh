#!/usr/bin/env bash
# Benchmarks against the named peers, printed side by side in one run (not timed tests).
#
#   cache-verify  vs  one single-thread inflate and vs `gzip -t F && sha256sum F`, on a ~2 GB
#                 docker-archive gzipped by gzip, and on cache-build's own multi-member output
#   update        vs  skopeo inspect per tag   on a local registry holding 300 tags
#   clamp verify  vs  sha256sum -c             on a ROCm-like tree of ~20,000 files and ~1 GB
#
# Usage: scripts/bench.sh [--only cache|update|clamp] [--files N] [--megabytes M] [--tar-megabytes T] [--runs R]
# Each timing is the best of R runs with a warm page cache (both tools read the same files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=20000 megabytes=1024 tar_megabytes=2048 runs=3 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=$2; shift 2 ;;
    --tar-megabytes) tar_megabytes=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --megabytes) megabytes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

cargo build --release --quiet
cargo build --release --quiet --example inflate
bin=$PWD/target/release/rocforge-ci
inflate=$PWD/target/release/examples/inflate
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

start_registry() { # a docker-registry on a free loopback port; sets $port and $registry_pid
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/registry-$port"
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$work/registry-$port/data" "$port" > "$work/registry-$port/config.yml"
  docker-registry serve "$work/registry-$port/config.yml" > "$work/registry-$port/log" 2>&1 &
  registry_pid=$!
  trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
}

if [ -z "$only" ] || [ "$only" = cache ]; then
echo "== cache-verify on ~$tar_megabytes MB: building the image"
# Layers of real binaries (compressible like an image's), as an OCI layout with gzip layers
# (for the registry and cache-build) and as a plain docker-archive (what skopeo writes).
python3 - "$work/cache" "$tar_megabytes" <<'PY'
import glob, gzip, hashlib, io, json, os, sys, tarfile, zlib
root, megabytes = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/oci/blobs/sha256", exist_ok=True); os.makedirs(f"{root}/archive", exist_ok=True)
sources = [p for p in glob.glob("/usr/lib/x86_64-linux-gnu/**/*.so*", recursive=True) if os.path.isfile(p) and not os.path.islink(p)]
target, layers, diff_ids, written, i = megabytes << 20, [], [], 0, 0
for n in range(8):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        size = 0
        while size < target // 8:
            p = sources[i % len(sources)]; i += 1
            data = open(p, "rb").read()
            info = tarfile.TarInfo(f"layer{n}/{i}-{os.path.basename(p)}"); info.size = len(data); info.mtime = 0
            t.addfile(info, io.BytesIO(data)); size += len(data)
    raw = buf.getvalue()
    diff = hashlib.sha256(raw).hexdigest(); diff_ids.append("sha256:" + diff)
    open(f"{root}/archive/{diff}.tar", "wb").write(raw)
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    dig = hashlib.sha256(gz).hexdigest(); open(f"{root}/oci/blobs/sha256/{dig}", "wb").write(gz)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + dig, "size": len(gz)})
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}}).encode()
cd = hashlib.sha256(config).hexdigest()
open(f"{root}/oci/blobs/sha256/{cd}", "wb").write(config); open(f"{root}/archive/{cd}.json", "wb").write(config)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)}, "layers": layers}).encode()
md = hashlib.sha256(man).hexdigest(); open(f"{root}/oci/blobs/sha256/{md}", "wb").write(man)
open(f"{root}/oci/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(f"{root}/oci/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "big"}}]}))
open(f"{root}/archive/manifest.json", "w").write(json.dumps([{"Config": cd + ".json", "RepoTags": ["big:1"], "Layers": [d[7:] + ".tar" for d in diff_ids]}]))
PY
# skopeo's order: layers first, manifest.json last.
(cd "$work/cache/archive" && { ls *.tar *.json | grep -v manifest.json; echo manifest.json; } > ../order && tar -cf ../skopeo-like.tar -T ../order)
gzip -1 -c "$work/cache/skopeo-like.tar" > "$work/cache/skopeo-like.tar.gz"
start_registry
skopeo copy --quiet --dest-tls-verify=false "oci:$work/cache/oci:big" "docker://127.0.0.1:$port/rocm/dev:9.9.9-ubuntu-22.04"
pinned=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/rocm/dev:9.9.9-ubuntu-22.04" | sha256sum | cut -d' ' -f1)
mkdir -p "$work/cb/ci"
printf 'rocm:\n  image: 127.0.0.1:%s/rocm/dev\n  images:\n    - version: "9.9.9"\n      os: ubuntu-22.04\n      digest: "sha256:%s"\n      added: 2026-01-01\n' "$port" "$pinned" > "$work/cb/ci/rocm_matrix.yml"
printf 'policy:\n' > "$work/cb/ci/rocm_policy.yml"
(cd "$work/cb" && "$bin" cache-build --release 9.9.9 --os ubuntu-22.04 --output images/big.tar.gz > /dev/null 2>&1)
ls -la "$work/cache/skopeo-like.tar.gz" "$work/cb/images/big.tar.gz" | awk '{print "   " $5 " bytes  " $9}'
echo "   uncompressed: $(stat -c %s "$work/cache/skopeo-like.tar") bytes"
gzip_sha() { gzip -t "$1" && sha256sum "$1"; }
for case in "skopeo+gzip:$work/cache/skopeo-like.tar.gz" "cache-build:$work/cb/images/big.tar.gz"; do
  label=${case%%:*} file=${case#*:}
  base=$(best_of "$inflate" "$file")
  peer=$(best_of gzip_sha "$file")
  ours=$(cd "$work/cb" && best_of "$bin" cache-verify "$file")
  rss=$(cd "$work/cb" && peak_kib "$bin" cache-verify "$file")
  results+=("$(printf '%-28s %10s %10s %7.2fx %s' "cache-verify/inflate ($label)" "$base" "$ours" "$(echo "$ours / $base" | bc -l)" "<= 1.15x (ours/inflate)")")
  results+=("$(printf '%-28s %10s %10s %7.1fx %s' "cache-verify/gzip+sha ($label)" "$peer" "$ours" "$(echo "$peer / $ours" | bc -l)" "$([ "$label" = cache-build ] && echo '>= 5x' || echo '~3x')")")
  results+=("$(printf '%-28s %10s %10s' "cache-verify peak RSS" "" "$((rss / 1024)) MiB")")
done
kill "$registry_pid" 2>/dev/null || true
fi

if [ -z "$only" ] || [ "$only" = update ]; then
echo "== update over 300 tags vs skopeo inspect per tag"
start_registry
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
