"""Every component version of the local environment, in one place (the cache is keyed by them)."""

KUBERNETES = "v1.35.4"  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
KUBERNETES_REVISION = 1  # 1: each component's binaries built by one `go build` (shared packages)
ETCD = "v3.5.35"
HELM = "v3.19.5"
HELM_REVISION = 1  # 1: built with Helm's Kubernetes-version ldflags (helm template needs no flag)
# Prometheus 3.16 (module tag v0.316.0): Debian's build lacks Kubernetes service discovery. Since
# 3.10 a build can leave out every other discovery provider (build-go.sh), half its dependencies.
PROMETHEUS = "v0.316.0"
CRI_TOOLS = "v1.34.0"  # crictl; the proxy has no v1.35 tag, and CRI v1 is the same
# zitadel/oidc's example OpenID Provider (tests/env/oidc-provider): a real discovery document,
# JWKS and token endpoint. Dex is not on the Go module proxy list here; Hydra is far heavier.
ZITADEL_OIDC = "v3.52.0"
# CoreDNS for the real node's cluster DNS, built with only the plugins it uses (tests/env/coredns).
COREDNS = "v1.12.4"
# The Temporal CLI (its dev server: Temporal server v1.29.1) for the grpc check's Temporal test.
TEMPORAL_CLI = "v1.5.1"
