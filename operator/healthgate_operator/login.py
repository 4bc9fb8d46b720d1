"""How the operator finds its credentials: one answer for Kopf's calls and for its own.

kubernetes_asyncio is an optional extra (``healthgate[kubeclient]``): Kopf imports its model
classes whenever it is installed, ~39 MiB of the operator's memory, for logins that a cluster
never needs. In a pod the service-account token and CA are files; a kubeconfig with a token or
client certificates is read by Kopf's own small parser. Only a kubeconfig whose user runs an
``exec`` plugin or an ``auth-provider`` needs the client library, and gets a clear error
naming the extra when it is missing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import kopf
import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXTRA = "healthgate[kubeclient]"
logger = logging.getLogger(__name__)


def in_cluster() -> bool:
    """In a pod, unless a kubeconfig is named explicitly (as kubernetes clients decide)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


def has_client_library() -> bool:
    return importlib.util.find_spec("kubernetes_asyncio") is not None


def service_account(directory: Path = SERVICE_ACCOUNT) -> kopf.ConnectionInfo:
    """The pod's service account, at the address Kubernetes puts in every pod's environment.

    The token is read on every login: the kubelet rotates projected tokens, and a 401 makes
    the caller log in again (:class:`healthgate_operator.kube.Kube` and Kopf both do).
    """
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    ca = directory / "ca.crt"
    try:
        token = (directory / "token").read_text().strip()
    except OSError as exc:
        raise kopf.LoginError(f"cannot read the service-account token: {exc}") from exc
    namespace = directory / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}",
        ca_path=str(ca) if ca.exists() else None,
        token=token or None,
        default_namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


def kubeconfig_user() -> dict[str, Any]:
    """The current context's user entry of the first kubeconfig file (empty if none)."""
    paths = [p for p in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep) if p]
    path = Path(paths[0]).expanduser() if paths else None
    if path is None or not path.exists():
        return {}
    config = yaml.safe_load(path.read_text()) or {}
    context = next(
        (c.get("context") or {} for c in config.get("contexts") or []
         if c.get("name") == config.get("current-context")),
        {},
    )  # fmt: skip
    users = {u.get("name"): u.get("user") or {} for u in config.get("users") or []}
    user: dict[str, Any] = users.get(context.get("user"), {})
    return user


def needs_client_library(user: dict[str, Any]) -> bool:
    """Credentials computed by running something: an exec plugin or an auth-provider."""
    return bool(user.get("exec") or user.get("auth-provider"))


async def connection_info(**kwargs: Any) -> kopf.ConnectionInfo:
    """The credentials; ``kwargs`` are a Kopf login handler's (``logger``, ``settings``)."""
    if in_cluster():
        return service_account()
    settings = kwargs.get("settings") or kopf.OperatorSettings()
    if needs_client_library(kubeconfig_user()):
        if not has_client_library():
            raise kopf.LoginError(
                "the kubeconfig's user runs an exec plugin or auth-provider, which needs the "
                f"kubernetes_asyncio client library: pip install '{EXTRA}'"
            )
        info = await kopf.login_via_async_client(
            logger=kwargs.get("logger") or logger, settings=settings
        )
    else:
        info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no credentials: neither in a pod nor a kubeconfig (KUBECONFIG)")
    return info
