"""Admission of a HealthGate: its author must already hold every power the gate uses.

A gate makes the operator inject a sidecar into the pods it selects (an image that runs there,
env from Secrets of the namespace through secretKeyRef) and, with ``restartOnChange``, restart
the workloads behind those pods. Kubernetes already gives the first to whoever may create pods
in the namespace (a pod can run any image and read any Secret of its namespace), and the second
to whoever may patch its Deployments and StatefulSets. So a gate is admitted (CREATE, and UPDATE
of its spec) only when SubjectAccessReviews say its author may do exactly that, and its
``spec.sidecar.image`` is on the installer's allow-list (a pod author may run any image, but an
injected image runs in *other* people's pods of the namespace too; the installer decides which).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from healthgate_operator.builders.admission import image_allowed
from healthgate_operator.kube import Kube, KubeError
from healthgate_operator.kubetypes import Json


@dataclass(frozen=True)
class Permission:
    """One thing the gate will make the operator do, and the spec field that asks for it."""

    field: str
    verb: str
    group: str
    resource: str


INJECT = Permission("spec.selector", "create", "", "pods")
RESTART = (
    Permission("spec.rollout.restartOnChange", "patch", "apps", "deployments"),
    Permission("spec.rollout.restartOnChange", "patch", "apps", "statefulsets"),
)


def needed(spec: Json) -> list[Permission]:
    """What the gate's author must be allowed to do in its namespace."""
    wanted = [INJECT]
    if (spec.get("rollout") or {}).get("restartOnChange"):
        wanted.extend(RESTART)
    return wanted


def check_image(spec: Json, patterns: tuple[str, ...]) -> None:
    image = (spec.get("sidecar") or {}).get("image")
    if image and not image_allowed(str(image), patterns):
        raise kopf.AdmissionError(
            f"spec.sidecar.image: {image!r} is not allowed by the installer "
            f"(allowed: {', '.join(patterns)}); leave it unset to use the default sidecar image",
            code=403,
        )


def access_review(userinfo: Mapping[str, Any], namespace: str, permission: Permission) -> Json:
    """A SubjectAccessReview asking whether the requesting user may do ``permission``."""
    spec: Json = {
        "user": userinfo.get("username", ""),
        "groups": list(userinfo.get("groups") or []),
        "resourceAttributes": {
            "namespace": namespace,
            "verb": permission.verb,
            "group": permission.group,
            "resource": permission.resource,
        },
    }
    if userinfo.get("uid"):
        spec["uid"] = userinfo["uid"]
    if userinfo.get("extra"):
        spec["extra"] = {k: list(v) for k, v in dict(userinfo["extra"]).items()}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


async def check_permissions(
    kube: Kube, userinfo: Mapping[str, Any], namespace: str, spec: Json
) -> None:
    user = userinfo.get("username", "?")
    for permission in needed(spec):
        review = access_review(userinfo, namespace, permission)
        try:
            answer = await kube.create_subject_access_review(review)
        except KubeError as exc:
            # failurePolicy Fail: a gate that could not be checked is not admitted.
            raise kopf.AdmissionError(
                f"cannot check {user}'s permissions: {exc}", code=503
            ) from exc
        if not (answer.get("status") or {}).get("allowed"):
            what = f"{permission.resource}.{permission.group}" if permission.group else "pods"
            raise kopf.AdmissionError(
                f"{permission.field}: user {user!r} may not {permission.verb} {what} in "
                f"namespace {namespace!r}, which this HealthGate would do on their behalf "
                f"(missing permission: {permission.verb} {what})",
                code=403,
            )


async def validate(
    *,
    kube: Kube,
    allowed_images: tuple[str, ...],
    body: Json,
    old: Json | None,
    userinfo: Mapping[str, Any],
) -> None:
    """Raise ``kopf.AdmissionError`` (the gate is refused) unless its author may do it all."""
    spec = body.get("spec") or {}
    if old is not None and (old.get("spec") or {}) == spec:
        return  # metadata or Kopf's bookkeeping: nothing the gate does changes
    namespace = str(body.get("metadata", {}).get("namespace") or "")
    check_image(spec, allowed_images)
    await check_permissions(kube, userinfo, namespace, spec)
