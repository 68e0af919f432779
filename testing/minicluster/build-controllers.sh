#!/usr/bin/env bash
# Build the trial-kind controllers of the e2e tier from the Go module proxy into a cache
# directory, with their CRDs beside them (see HARNESS.md, "Trial-kind controllers").
#
#   build-controllers.sh [WHAT ...]   WHAT: jobset, trainer, pipelines (the default: all
#                                     three) or training-operator (CI builds it as a stage
#                                     of its own: docs/development.md, "CI budget")
#   TUNEOP_CACHE   cache root (default: $HOME/.cache/tuneop)
#
# Versions are those of controllers.py beside this file (JOBSET_VERSION, ...). Each binary
# is built inside its module's own directory of the module cache with -mod=readonly, so its
# go.mod and go.sum pin every dependency as released: `go install module@version` would do
# the same but asks the proxy for the module's version list first, which the proxy refuses
# for sigs.k8s.io/jobset (403). Only the manager binaries are built. GOMODCACHE and GOCACHE
# are shared with build-kubernetes.sh and build-kueue.sh ($TUNEOP_CACHE/go); Trainer v2.0.0
# and JobSet v0.8.2 pin the same k8s.io v0.32 and controller-runtime v0.20 modules, so the
# second of them is mostly warm. Output:
#   jobset-V/bin/jobset, jobset-V/crds/, jobset-V/webhooks/   (config/components/...)
#   trainer-V/bin/trainer-controller-manager, trainer-V/crds/   (manifests/base/crds)
#   pipelines/argo-V/crds/   Argo Workflows' Workflow CRD, the one its install manifests use
#                            (manifests/base/crds/minimal: the full one is 2.8 MB, past
#                            etcd's request limit)
#   pipelines/tekton-V/crds/ Tekton Pipelines' PipelineRun CRD (config/300-crds)
#   training-operator-V/bin/training-operator, training-operator-V/crds/ (PyTorchJob's),
#                            training-operator-V/webhooks/ (manifests/base/webhook)
# Idempotent: what is cached is skipped; a line per piece says how long it took.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version_of() { sed -n "s/^$1 = \"\(.*\)\"$/\1/p" "$HERE/controllers.py"; }
CACHE="${TUNEOP_CACHE:-$HOME/.cache/tuneop}"

say() { printf '[build-controllers.sh] %s\n' "$*"; }

command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { say "no go on PATH" >&2; exit 1; }
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-mod=readonly CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
mkdir -p "$GOMODCACHE" "$GOCACHE"

# module_dir MODULE VERSION: download the module's zip; print its directory.
module_dir() {
    local dir
    dir=$(go mod download -json "$1@v$2" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -n "$dir" && -d "$dir" ]] || { say "the Go module proxy does not serve $1@v$2" >&2; exit 1; }
    printf '%s\n' "$dir"
}

# build MODULE VERSION PACKAGE BINARY PREFIX: the manager binary, unless cached.
build() {
    local module=$1 version=$2 package=$3 binary=$4 prefix=$5 dir start
    if [[ -x "$prefix/bin/$binary" ]]; then
        say "cached: $prefix/bin/$binary"
        return
    fi
    dir=$(module_dir "$module" "$version")
    start=$(date +%s)
    say "building $module/$package v$version with $(go version | cut -d' ' -f3) (minutes when cold)"
    mkdir -p "$prefix/bin"
    (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$prefix/bin/$binary.tmp" "./$package")
    mv -f "$prefix/bin/$binary.tmp" "$prefix/bin/$binary"
    say "built $binary in $(($(date +%s) - start))s (load $(cut -d' ' -f1-3 /proc/loadavg))"
}

# crds MODULE VERSION DEST FILE...: copy the named CRD files of the module, unless cached.
crds() {
    local module=$1 version=$2 dest=$3 dir
    shift 3
    [[ -f "$dest/.ready" ]] && { say "cached: $dest"; return; }
    dir=$(module_dir "$module" "$version")
    mkdir -p "$dest"
    for file in "$@"; do install -m 0644 "$dir/$file" "$dest/"; done
    touch "$dest/.ready"
    say "CRDs: $# files in $dest"
}

jobset() {
    local v
    v=$(version_of JOBSET_VERSION)
    crds sigs.k8s.io/jobset "$v" "$CACHE/jobset-$v/crds" \
        config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml
    # Its webhook configurations: kueue.py's way (no webhooks) would leave JobSets undefaulted.
    crds sigs.k8s.io/jobset "$v" "$CACHE/jobset-$v/webhooks" \
        config/components/webhook/manifests.yaml
    build sigs.k8s.io/jobset "$v" . jobset "$CACHE/jobset-$v"
}

trainer() {
    local v base=manifests/base/crds/trainer.kubeflow.org
    v=$(version_of TRAINER_VERSION)
    crds github.com/kubeflow/trainer/v2 "$v" "$CACHE/trainer-$v/crds" \
        "${base}_trainjobs.yaml" "${base}_clustertrainingruntimes.yaml" \
        "${base}_trainingruntimes.yaml"
    build github.com/kubeflow/trainer/v2 "$v" cmd/trainer-controller-manager \
        trainer-controller-manager "$CACHE/trainer-$v"
}

pipelines() {
    local argo tekton
    argo=$(version_of ARGO_VERSION)
    tekton=$(version_of TEKTON_VERSION)
    crds github.com/argoproj/argo-workflows/v3 "$argo" "$CACHE/pipelines/argo-$argo/crds" \
        manifests/base/crds/minimal/argoproj.io_workflows.yaml
    crds github.com/tektoncd/pipeline "$tekton" "$CACHE/pipelines/tekton-$tekton/crds" \
        config/300-crds/300-pipelinerun.yaml
}

training_operator() {
    local v base=manifests/base/crds/kubeflow.org
    v=$(version_of TRAINING_OPERATOR_VERSION)
    crds github.com/kubeflow/training-operator "$v" "$CACHE/training-operator-$v/crds" \
        "${base}_pytorchjobs.yaml"
    # Its validating webhooks (the harness serves and registers the PyTorchJob one).
    crds github.com/kubeflow/training-operator "$v" "$CACHE/training-operator-$v/webhooks" \
        manifests/base/webhook/manifests.yaml
    build github.com/kubeflow/training-operator "$v" cmd/training-operator.v1 \
        training-operator "$CACHE/training-operator-$v"
}

whats=("$@")
((${#whats[@]})) || whats=(jobset trainer pipelines)
start=$(date +%s)
for what in "${whats[@]}"; do
    case "$what" in
        jobset) jobset ;;
        trainer) trainer ;;
        pipelines) pipelines ;;
        training-operator) training_operator ;;
        *) say "unknown: $what (jobset, trainer, pipelines, training-operator)" >&2; exit 2 ;;
    esac
done
say "done in $(($(date +%s) - start))s: ${whats[*]}"
