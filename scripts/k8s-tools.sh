#!/usr/bin/env bash
# Builds the real Kubernetes tools the chart and Kubernetes tests run against,
# from their Go modules at pinned versions (nothing is downloaded as a binary):
#   kube-apiserver and kubectl  k8s.io/kubernetes (its staging modules replaced
#                               by the published k8s.io/* modules of the release)
#   etcd                        go.etcd.io/etcd/server/v3
#   helm                        helm.sh/helm/v4
# into ~/.cache/streammesh/k8s-tools/<KUBE_VERSION>/ (or $STREAMMESH_K8S_TOOLS).
# A tool already built there is kept: a second run takes well under a second.
# The first run needs the Go toolchain and the Go module proxy, and takes a
# few minutes (kube-apiserver is the long one).
#
# Prints the tools directory on stdout; tests read it the same way
# (test/helpers/kube/tools.ts).
set -euo pipefail

KUBE_VERSION=v1.37.2    # k8s.io/kubernetes; its staging modules are v0.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16    # the etcd line Kubernetes 1.37 is tested with
HELM_VERSION=v4.3.2

dir="${STREAMMESH_K8S_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/streammesh/k8s-tools/$KUBE_VERSION}"
mkdir -p "$dir"

have() { [[ -x "$dir/$1" && -f "$dir/$1.version" && "$(cat "$dir/$1.version")" == "$2" ]]; }

if have kube-apiserver "$KUBE_VERSION" && have kubectl "$KUBE_VERSION" &&
  have etcd "$ETCD_VERSION" && have helm "$HELM_VERSION"; then
  echo "$dir"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "k8s-tools: the Go toolchain is needed to build kube-apiserver, etcd, kubectl and helm" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0

# A throwaway module whose only job is to pin what the tools are built from.
# `go install pkg@version` refuses modules with replace directives (etcd's and
# Kubernetes' own), so each tool is built from such a module instead.
tool_module() { # name, require lines...
  local module="$work/$1"
  shift
  mkdir -p "$module"
  {
    printf 'module streammesh.local/k8s-tools/%s\n\ngo 1.26.0\n\n' "$(basename "$module")"
    printf 'require (\n'
    printf '\t%s\n' "$@"
    printf ')\n'
  } >"$module/go.mod"
  echo "$module"
}

built() { echo "$2" >"$dir/$1.version"; echo "k8s-tools: built $1 $2" >&2; }

if ! have kube-apiserver "$KUBE_VERSION" || ! have kubectl "$KUBE_VERSION"; then
  echo "k8s-tools: building kube-apiserver and kubectl $KUBE_VERSION (a few minutes the first time)" >&2
  module="$(tool_module kubernetes "k8s.io/kubernetes $KUBE_VERSION")"
  # k8s.io/kubernetes names its staging modules as ./staging/src/k8s.io/X,
  # which a dependent module cannot use: point each at its published release.
  staging=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
    sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p' |
    xargs grep -o '^\s*k8s.io/[a-z0-9-]* => ./staging' | awk '{print $1}')
  {
    printf '\nreplace (\n'
    for name in $staging; do
      # The sample modules are examples nobody builds; the proxy does not serve them.
      case "$name" in k8s.io/sample-cli-plugin | k8s.io/sample-controller) continue ;; esac
      printf '\t%s => %s %s\n' "$name" "$name" "$STAGING_VERSION"
    done
    printf ')\n'
  } >>"$module/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' >"$module/tools.go"
  # The version the binaries report (and the API server's emulation version
  # follows): without it they say v0.0.0-master.
  minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  (
    cd "$module"
    go mod tidy >&2
    go build -ldflags "$ldflags" -o "$dir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -ldflags "$ldflags" -o "$dir/kubectl" k8s.io/kubernetes/cmd/kubectl
  )
  built kube-apiserver "$KUBE_VERSION"
  built kubectl "$KUBE_VERSION"
fi

if ! have etcd "$ETCD_VERSION"; then
  echo "k8s-tools: building etcd $ETCD_VERSION" >&2
  module="$(tool_module etcd "go.etcd.io/etcd/server/v3 $ETCD_VERSION")"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$module/tools.go"
  (
    cd "$module"
    go mod tidy >&2
    go build -ldflags "-s -w" -o "$dir/etcd" go.etcd.io/etcd/server/v3
  )
  built etcd "$ETCD_VERSION"
fi

if ! have helm "$HELM_VERSION"; then
  echo "k8s-tools: building helm $HELM_VERSION" >&2
  module="$(tool_module helm "helm.sh/helm/v4 $HELM_VERSION")"
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' >"$module/tools.go"
  (
    cd "$module"
    go mod tidy >&2
    go build -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
      -o "$dir/helm" helm.sh/helm/v4/cmd/helm
  )
  built helm "$HELM_VERSION"
fi

echo "$dir"
