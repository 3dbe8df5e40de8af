#!/usr/bin/env bash
# Vendors axe-core (MPL-2.0) into the browser-test harness, never into the product.
# Usage: scripts/vendor-axe.sh [VERSION_RANGE]   (default: 4)
set -euo pipefail
range="${1:-4}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/tests/it/web/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball="$(npm pack --silent "axe-core@$range")"
tar -xzf "$tarball"
version="$(node -p "require('./package/package.json').version")"
cp package/axe.min.js "$dest/axe.min.js"

echo "vendored axe-core $version into $dest"
