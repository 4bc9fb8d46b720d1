"""handlers.validate_gate: what a gate's author must be allowed, and the image allow-list."""

from __future__ import annotations

import kopf
import pytest

from healthgate_operator.builders import admission
from healthgate_operator.handlers import validate_gate


def test_a_gate_needs_pod_create_and_restart_needs_workload_patch() -> None:
    plain = validate_gate.needed({"selector": {"matchLabels": {"app": "web"}}})
    assert [(p.verb, p.resource) for p in plain] == [("create", "pods")]
    restarting = validate_gate.needed({"rollout": {"restartOnChange": True}})
    assert [(p.field, p.verb, p.group, p.resource) for p in restarting[1:]] == [
        ("spec.rollout.restartOnChange", "patch", "apps", "deployments"),
        ("spec.rollout.restartOnChange", "patch", "apps", "statefulsets"),
    ]
    assert len(validate_gate.needed({"rollout": {"restartOnChange": False}})) == 1


def test_access_review_carries_the_whole_identity() -> None:
    userinfo = {
        "username": "alice",
        "uid": "42",
        "groups": ["team-b", "system:authenticated"],
        "extra": {"scopes": ["a"]},
    }
    review = validate_gate.access_review(userinfo, "b", validate_gate.INJECT)
    assert review["kind"] == "SubjectAccessReview"
    assert review["spec"] == {
        "user": "alice",
        "uid": "42",
        "groups": ["team-b", "system:authenticated"],
        "extra": {"scopes": ["a"]},
        "resourceAttributes": {"namespace": "b", "verb": "create", "group": "", "resource": "pods"},
    }


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("ghcr.io/healthgate/healthgate:0.1.0", True),
        ("registry.example.com/healthgate/healthgate:2", True),
        ("evil.example/implant:1", False),
        ("ghcr.io/healthgate/healthgate:0.1.0-evil", False),
    ],
)
def test_image_allow_list(image: str, allowed: bool) -> None:
    patterns = ("ghcr.io/healthgate/healthgate:0.1.0", "registry.example.com/healthgate/*")
    assert admission.image_allowed(image, patterns) is allowed


def test_a_disallowed_image_is_refused_naming_the_field() -> None:
    with pytest.raises(
        kopf.AdmissionError, match=r"spec\.sidecar\.image: 'evil\.example/implant:1'"
    ):
        validate_gate.check_image({"sidecar": {"image": "evil.example/implant:1"}}, ("x:1",))
    validate_gate.check_image({"sidecar": {}}, ("x:1",))  # unset: the default image


async def test_an_unchanged_spec_is_not_reviewed_again() -> None:
    """Kopf's own annotation patches (UPDATE, same spec) never depend on the author's rights."""
    gate = {"metadata": {"namespace": "b"}, "spec": {"sidecar": {"image": "evil.example/x:1"}}}
    await validate_gate.validate(
        kube=None,  # type: ignore[arg-type]  # never called: nothing to check
        allowed_images=("x:1",),
        body=gate,
        old=gate,
        userinfo={"username": "system:serviceaccount:healthgate-system:healthgate-operator"},
    )
