"""Every component version of the local environment, in one place (the cache is keyed by them)."""

KUBERNETES = "v1.35.4"  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
ETCD = "v3.5.35"
HELM = "v3.19.5"
