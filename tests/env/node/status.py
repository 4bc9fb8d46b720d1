"""Pod status from container states: what the kubelet's status manager writes to pods/status.

Pure functions. Conditions follow the kubelet: ``Initialized`` once every regular init container
completed and every native sidecar has started; ``ContainersReady`` once every main container
*and every native sidecar* is ready (a sidecar's readiness counts toward the pod's, as in the
real kubelet since 1.29); ``Ready`` is ``ContainersReady`` plus any ``readinessGates``. A
condition's ``lastTransitionTime`` changes only when its status does.
"""

from __future__ import annotations

from tests.env.node import api, containers, podspec, registration


def container_status(c: containers.Container) -> api.Obj:
    if c.state == "running":
        state: api.Obj = {"running": {"startedAt": c.started_at}}
    elif c.state == "terminated":
        state = {
            "terminated": {
                "exitCode": c.exit_code,
                "reason": c.reason,
                "startedAt": c.started_at or None,
                "finishedAt": c.finished_at,
                **({"message": c.message} if c.message else {}),
            }
        }
    else:
        state = {"waiting": {"reason": c.reason, **({"message": c.message} if c.message else {})}}
    image = str(c.spec.get("image", ""))
    out: api.Obj = {
        "name": c.name,
        "image": image,
        "imageID": f"local://{image}",
        "ready": c.ready,
        "started": c.started and c.state == "running",
        "restartCount": c.restart_count,
        "state": state,
        "lastState": c.last_state,
    }
    if c.container_id:
        out["containerID"] = c.container_id
    return out


def _initialized(init: list[containers.Container], *, once: bool) -> list[str]:
    """Names of init containers still holding up the pod (empty: initialized).

    Once initialized, a pod stays so: a sidecar restarting later does not take it back.
    """
    waiting: list[str] = []
    if once:
        return waiting
    for c in init:
        if podspec.is_sidecar(c.spec):
            if not (c.state == "running" and c.started):
                waiting.append(c.name)
        elif not (c.state == "terminated" and c.exit_code == 0 and c.done):
            waiting.append(c.name)
    return waiting


def phase(init: list[containers.Container], main: list[containers.Container], *, once: bool) -> str:
    if _initialized(init, once=once):
        failed = any(c.done and c.exit_code != 0 for c in init if not podspec.is_sidecar(c.spec))
        return "Failed" if failed else "Pending"
    if any(c.state == "running" for c in main):
        return "Running"
    if main and all(c.done for c in main):
        return "Succeeded" if all(c.exit_code == 0 for c in main) else "Failed"
    if any(c.last_state for c in main):
        return "Running"  # between restarts
    return "Pending"


def _condition(kind: str, ok: bool, reason: str, message: str) -> api.Obj:
    body: api.Obj = {"type": kind, "status": "True" if ok else "False"}
    if not ok:
        body.update(reason=reason, message=message)
    return body


def conditions(
    pod: api.Obj,
    init: list[containers.Container],
    main: list[containers.Container],
    *,
    once: bool,
) -> list[api.Obj]:
    """The conditions the kubelet owns; timestamps are added by :func:`stamp`."""
    pending = _initialized(init, once=once)
    sidecars = [c for c in init if podspec.is_sidecar(c.spec)]
    unready = [c.name for c in [*sidecars, *main] if not c.ready]
    gates = [g["conditionType"] for g in pod["spec"].get("readinessGates") or []]
    current = {c["type"]: c.get("status") for c in (pod.get("status") or {}).get("conditions", [])}
    gated = [g for g in gates if current.get(g) != "True"]
    not_ready = f"containers with unready status: [{' '.join(unready)}]"
    ready_message = (
        not_ready if unready else f"corresponding condition of pod readiness gate {gated}"
    )
    return [
        _condition("PodReadyToStartContainers", True, "", ""),
        _condition(
            "Initialized",
            not pending,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(pending)}]",
        ),
        _condition("ContainersReady", not unready, "ContainersNotReady", not_ready),
        _condition("Ready", not unready and not gated, "ContainersNotReady", ready_message),
    ]


def stamp(fresh: list[api.Obj], previous: list[api.Obj]) -> list[api.Obj]:
    """Keep each condition's lastTransitionTime unless its status changed."""
    before = {c["type"]: c for c in previous}
    out = []
    for condition in fresh:
        old = before.get(condition["type"])
        same = old is not None and old.get("status") == condition["status"]
        time = old.get("lastTransitionTime") if same and old else registration.now()
        out.append({**condition, "lastProbeTime": None, "lastTransitionTime": time})
    return out


def merge_conditions(owned: list[api.Obj], existing: list[api.Obj]) -> list[api.Obj]:
    """Ours plus the ones others own (PodScheduled, DisruptionTarget, readiness gates)."""
    mine = {c["type"] for c in owned}
    return [*owned, *(c for c in existing if c["type"] not in mine)]
