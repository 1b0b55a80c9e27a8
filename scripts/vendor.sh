#!/usr/bin/env bash
# `make vendor`: fetch the dashboard's front-end libraries from their npm packages and copy
# the built files into serika/web/dashboard/static/vendor (committed; the server never needs
# node). Versions are pinned here; VENDORED.md records them with licences and checksums.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX_VERSION=${HTMX_VERSION:-2.0.11}
CHARTJS_VERSION=${CHARTJS_VERSION:-4.6.1}
static=serika/web/dashboard/static
dest=$static/vendor
work=$(mktemp -d /tmp/serika-vendor.XXXXXX)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "htmx.org@$HTMX_VERSION" "chart.js@$CHARTJS_VERSION" >/dev/null)
mkdir -p "$work/htmx" "$work/chartjs" "$dest"
tar xzf "$work/htmx.org-$HTMX_VERSION.tgz" -C "$work/htmx" --strip-components=1
tar xzf "$work/chart.js-$CHARTJS_VERSION.tgz" -C "$work/chartjs" --strip-components=1

# The minified builds, without their source-map comments (the maps are not vendored).
sed '/^\/\/# sourceMappingURL=/d' "$work/htmx/dist/htmx.min.js" >"$dest/htmx.min.js"
sed 's#//\# sourceMappingURL=[^ ]*$##' "$work/chartjs/dist/chart.umd.min.js" >"$dest/chart.umd.min.js"
cp "$work/htmx/LICENSE" "$dest/htmx.LICENSE"
cp "$work/chartjs/LICENSE.md" "$dest/chart.js.LICENSE.md"

version() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$1"; }
licence() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["license"])' "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
{
  echo "# Vendored front-end libraries"
  echo
  echo "Written by \`make vendor\` (scripts/vendor.sh) from the npm packages; do not edit by hand."
  echo "The server serves these files from /static/vendor/; nothing here needs node at run time."
  echo
  echo "| file | npm package | version | licence | sha256 |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| vendor/htmx.min.js | htmx.org | $(version "$work/htmx/package.json") | $(licence "$work/htmx/package.json") (vendor/htmx.LICENSE) | $(sha "$dest/htmx.min.js") |"
  echo "| vendor/chart.umd.min.js | chart.js | $(version "$work/chartjs/package.json") | $(licence "$work/chartjs/package.json") (vendor/chart.js.LICENSE.md) | $(sha "$dest/chart.umd.min.js") |"
} >"$static/VENDORED.md"
echo "vendored htmx.org $HTMX_VERSION and chart.js $CHARTJS_VERSION into $dest"
