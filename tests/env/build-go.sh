#!/usr/bin/env bash
# Build a Go component of the local environment from the Go module proxy into a versioned cache.
#
#   build-go.sh kubernetes v1.35.4 DEST   -> DEST/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   build-go.sh kubernetes-node v1.35.4 DEST -> DEST/bin/{kubelet,kube-proxy}
#   build-go.sh cri-tools  v1.34.0 DEST   -> DEST/bin/crictl
#   build-go.sh etcd       v3.5.35 DEST   -> DEST/bin/{etcd,etcdctl}
#   build-go.sh helm       v3.19.5 DEST   -> DEST/bin/helm
#   build-go.sh prometheus v0.316.0 DEST  -> DEST/bin/prometheus (Prometheus 3.16, Kubernetes SD only)
#   build-go.sh oidc-provider v3.52.0 DEST -> DEST/bin/oidc-provider (zitadel/oidc's example OP)
#   build-go.sh coredns    v1.12.4 DEST   -> DEST/bin/coredns (only the cluster-DNS plugins)
#   build-go.sh temporal   v1.5.1 DEST    -> DEST/bin/temporal (the CLI, with its dev server)
#
# k8s.io/kubernetes and etcd's server module carry `replace` directives pointing at their own
# source trees, so `go install pkg@version` refuses them. A tiny wrapper module requires them and
# replaces each staging module with its published tag instead. The binaries land in DEST/bin and a
# caller (tests/env/common.py) writes DEST/.complete afterwards, so a half build is redone.
set -euo pipefail

component=$1 version=$2 dest=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$dest/src
mkdir -p "$work" "$dest/bin"
cd "$work"
export GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 GOTOOLCHAIN=local

case "$component" in
kubernetes | kubernetes-node)
  staging=v0.${version#v1.}
  gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module healthgate.local/build/kubernetes"
    echo "go 1.25.0"
    echo "require k8s.io/kubernetes $version"
    grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >go.mod
  pkgs=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  # The node's binaries are a component of their own, so the control plane's cache stays valid.
  [[ $component == kubernetes-node ]] && pkgs=(kubelet kube-proxy)
  for p in "${pkgs[@]}"; do go get "k8s.io/kubernetes/cmd/$p@$version"; done
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
  echo ">> building ${pkgs[*]} $version (a cold build takes several minutes)"
  # One invocation for all: the binaries' shared packages compile once and their link steps run
  # side by side, instead of one core linking while the other waits.
  go build -ldflags "$ldflags" -o "$dest/bin/" "${pkgs[@]/#/k8s.io/kubernetes/cmd/}"
  ;;
etcd)
  {
    echo "module healthgate.local/build/etcd"
    echo "go 1.25.0"
  } >go.mod
  go get "go.etcd.io/etcd/server/v3@$version" "go.etcd.io/etcd/etcdctl/v3@$version"
  echo ">> building etcd $version"
  go build -ldflags "-s -w" -o "$dest/bin/etcd" go.etcd.io/etcd/server/v3
  go build -ldflags "-s -w" -o "$dest/bin/etcdctl" go.etcd.io/etcd/etcdctl/v3
  ;;
helm)
  echo ">> building helm $version"
  # As Helm's own Makefile does: the default Kubernetes version of `helm template` and `helm
  # lint` is client-go's (v0.X -> 1.X); without it, it is 1.20 and a chart's kubeVersion fails.
  gomod=$(go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  k8s_minor=$(awk '$1 == "k8s.io/client-go" {print $2}' "$gomod" | cut -d. -f2)
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  GOBIN=$dest/bin GOFLAGS=-buildvcs=false go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
  ;;
cri-tools)
  # crictl removes every pod sandbox through the CRI (CNI DEL included) when the node stops.
  echo ">> building crictl $version"
  GOBIN=$dest/bin go install -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$version" "sigs.k8s.io/cri-tools/cmd/crictl@$version"
  ;;
prometheus)
  # Debian's prometheus is built without Kubernetes service discovery, which the end-to-end
  # scrape needs; promtool still comes from Debian. The web UI assets are not embedded (no npm
  # build): the HTTP API, all the tests use, does not need them.
  echo ">> building prometheus $version"
  # Its go.mod has exclude directives, which `go install pkg@version` refuses: wrap it too.
  printf 'module healthgate.local/build/prometheus\ngo 1.25.0\n' >go.mod
  go get "github.com/prometheus/prometheus/cmd/prometheus@$version"
  # Only the Kubernetes service discovery the scrape uses: `remove_all_sd` (Prometheus 3.10+)
  # leaves out the cloud providers' SDKs, as Prometheus documents for custom builds.
  go build -tags remove_all_sd,enable_kubernetes_sd -ldflags "-s -w" -o "$dest/bin/prometheus" \
    github.com/prometheus/prometheus/cmd/prometheus
  ;;
oidc-provider)
  # zitadel/oidc's example OpenID Provider behind our own small main (oidc-provider/main.go):
  # the example's main binds every interface on a fixed port.
  echo ">> building oidc-provider (github.com/zitadel/oidc/v3 $version)"
  printf 'module healthgate.local/build/oidc-provider\ngo 1.25.0\n' >go.mod
  cp "$here/oidc-provider/main.go" .
  go get "github.com/zitadel/oidc/v3@$version"
  go build -ldflags "-s -w" -o "$dest/bin/oidc-provider" .
  ;;
coredns)
  # Our own small main (coredns/main.go) with only the plugins cluster DNS uses: CoreDNS's main
  # links every plugin, cloud SDKs included, too slow to build here.
  echo ">> building coredns $version"
  printf 'module healthgate.local/build/coredns\ngo 1.25.0\n' >go.mod
  cp "$here/coredns/main.go" .
  go get "github.com/coredns/coredns@$version"
  go build -trimpath -ldflags "-s -w" -o "$dest/bin/coredns" .
  ;;
temporal)
  # The Temporal CLI embeds a whole Temporal server (`temporal server start-dev`, SQLite in
  # memory): the real frontend whose gRPC health service the grpc check is tested against.
  # ~430 CPU-seconds and 1.5 GiB for a cold build (a 210 MB binary).
  echo ">> building temporal $version (a cold build takes several minutes)"
  GOBIN=$dest/bin GOFLAGS=-buildvcs=false go install -ldflags "-s -w" "github.com/temporalio/cli/cmd/temporal@$version"
  ;;
*)
  echo "unknown component: $component" >&2
  exit 2
  ;;
esac

echo ">> $component $version ready in $dest/bin"
