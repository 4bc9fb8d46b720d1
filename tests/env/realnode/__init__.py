"""A real Kubernetes node on this machine: containerd, runc, CNI, the kubelet and kube-proxy.

Pods run in containers from images imported locally (nothing is pulled) and live on a bridge in
RFC 2544's 198.18.0.0/15, which leads nowhere else. :mod:`.node` starts and stops it,
:mod:`.host` records and restores what it changes on the machine.
"""
