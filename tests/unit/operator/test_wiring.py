"""cli/webhook/main wiring that needs no cluster: settings, log filter, review fix-up, registry."""

from __future__ import annotations

import json
import logging

import kopf

from healthgate_operator import cli, config, diffbase, runtime, webhook, wiring


def test_settings_keep_kopf_state_in_our_annotations() -> None:
    cfg = config.parse(["--priority", "5"], {})
    settings = cli.build_settings(cfg, runtime.Runtime(config=cfg))
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, diffbase.SpecDigestStorage)
    assert settings.admission.managed is None
    assert isinstance(settings.admission.server, webhook.WebhookEndpoint)
    assert settings.peering.priority == 5
    assert settings.posting.level == logging.WARNING


def test_routine_filter_drops_only_routine_successes() -> None:
    def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)

    routine = cli.RoutineFilter()
    assert not routine.filter(record("Activity 'refresh-age' succeeded."))
    assert not routine.filter(record("Webhook 'inject-sidecar' succeeded."))
    assert not routine.filter(record("Handler 'trim-body' succeeded."))
    assert routine.filter(record("Handler 'reconcile' succeeded."))
    assert routine.filter(record("Webhook 'inject-sidecar' succeeded.", logging.WARNING))


def test_review_gets_the_namespace_of_the_request() -> None:
    review = {"request": {"namespace": "tta", "object": {"metadata": {"generateName": "web-"}}}}
    assert webhook.with_namespace(review)["request"]["object"]["metadata"]["namespace"] == "tta"
    kept = {"request": {"namespace": "tta", "object": {"metadata": {"namespace": "own"}}}}
    assert webhook.with_namespace(kept)["request"]["object"]["metadata"]["namespace"] == "own"


def test_register_wires_every_handler() -> None:
    registry = kopf.OperatorRegistry()
    wiring.register(registry, config.parse([], {}))
    webhooks = list(registry._webhooks.get_all_handlers())
    assert [h.id for h in webhooks] == ["inject-sidecar", "validate-gate"]
    assert list(webhooks[0].operations or []) == ["CREATE"]
    # The paths the shipped webhook configurations call (chart: templates/admission.yaml).
    assert list(webhooks[1].operations or []) == ["CREATE", "UPDATE"]
    assert webhooks[1].selector is not None
    assert webhooks[1].selector.group == "healthgate.io"
    spawning = registry._spawning.get_all_handlers()
    assert len(spawning) == 1  # the status loop
    # No handler may make Kopf put a finalizer on gates (deletion must never need us).
    assert not any(h.requires_finalizer for h in spawning)
    assert not any(h.requires_finalizer for h in registry._changing.get_all_handlers())
    probes = [h.id for h in registry._activities.get_all_handlers() if h.activity == "probe"]
    assert probes == ["refresh-age"]  # /healthz fails when status refreshes stop


def test_diff_base_is_a_digest_of_the_spec_alone() -> None:
    storage = diffbase.SpecDigestStorage(prefix="healthgate.io", key="last-handled-configuration")
    deps = [
        {"name": f"d{i}", "type": "tcp", "tcp": {"host": "x" * 200, "port": 1}} for i in range(100)
    ]
    body = kopf.Body(
        {"metadata": {"annotations": {"healthgate.io/x": "1"}}, "spec": {"dependencies": deps}}
    )
    essence = storage.build(body=body)
    assert len(json.dumps(essence)) < 120  # whatever the size of the gate
    moved = kopf.Body(
        {"metadata": {"annotations": {"healthgate.io/x": "2"}}, "spec": {"dependencies": deps}}
    )
    assert storage.build(body=moved) == essence  # Kopf's own annotations are no spec change
    changed = kopf.Body({"metadata": {}, "spec": {"dependencies": deps[:1]}})
    assert storage.build(body=changed) != essence


def test_trim_drops_unread_copies_from_the_dict_kopf_keeps() -> None:
    registry = kopf.OperatorRegistry()
    wiring.register(registry, config.parse([], {}))
    watching = {str(h.id): h for h in registry._watching.get_all_handlers()}
    assert "trim-body" in watching  # every event of a gate whose daemon runs here
    raw = {
        "metadata": {
            "name": "g",
            "labels": {"a": "b"},
            "resourceVersion": "7",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"spec":{"selector":{}}}',
                "healthgate.io/last-handled-configuration": '{"spec":{"sha256":"0"}}',
            },
        },
        "spec": {"selector": {}},
    }
    # Kopf's daemon holds a live Body over the raw dict; the handler must trim that dict.
    wiring.trim(body=kopf.Body(raw))  # type: ignore[arg-type]
    kept = {"healthgate.io/last-handled-configuration": '{"spec":{"sha256":"0"}}'}
    assert raw["metadata"] == {
        "name": "g",
        "labels": {"a": "b"},
        "resourceVersion": "7",
        "annotations": kept,
    }
    assert raw["spec"] == {"selector": {}}
