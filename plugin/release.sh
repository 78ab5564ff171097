#!/usr/bin/env bash
# Writes the krew manifest for one release: plugin/ai.yaml with the version and the sha256 of
# each archive in DIST filled in. Refuses to write a manifest with any archive missing, since krew
# would then fail on that platform at install time.
#
#   plugin/release.sh v0.1.0 dist/ > ai.yaml
set -euo pipefail
version=${1:?usage: plugin/release.sh VERSION DIST_DIR}
dist=${2:?usage: plugin/release.sh VERSION DIST_DIR}
here=$(cd "$(dirname "$0")" && pwd)
[[ $version == v* ]] || { echo "release.sh: VERSION must look like v1.2.3" >&2; exit 2; }

export VERSION=$version
for platform in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64 windows-amd64; do
  ext=tar.gz
  [[ $platform == windows-* ]] && ext=zip
  archive="$dist/kubectl-ai-$version-$platform.$ext"
  [[ -f $archive ]] || { echo "release.sh: missing $archive" >&2; exit 1; }
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  export "SHA256_${platform/-/_}=$sum"
done
# Only our own placeholders are substituted; the comment header is dropped.
python3 - "$here/ai.yaml" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
body = text[text.index("apiVersion:"):]
print(re.sub(r"\$\{(VERSION|SHA256_[a-z]+_[a-z0-9]+)\}", lambda m: os.environ[m.group(1)], body), end="")
PY
