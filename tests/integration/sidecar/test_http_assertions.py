"""http ``assertions`` (JSONPath on the body) and ``maxBodyBytes``, against a local HTTP server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.integration.sidecar.conftest import FAST, Sidecar, Target

MakeSidecar = Callable[..., Awaitable[Sidecar]]


def api(url: str, *assertions: dict[str, str], **block: object) -> dict[str, object]:
    http = {"url": url, "assertions": list(assertions), **block}
    return {"name": "api", "type": "http", **FAST, "failureThreshold": 1, "http": http}


async def test_assertions_that_hold_are_healthy(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    sidecar = await make_sidecar(
        api(
            http_target.url + "/status.json",
            {"jsonPath": "$.status", "equals": "UP"},
            {"jsonPath": "$.version", "equals": "3"},  # numbers compare in their JSON spelling
            {"jsonPath": "$.ready", "equals": "true"},
            {"jsonPath": "$.checks[*].state", "regex": "^(UP|OK)$"},  # every value must match
            {"jsonPath": "$.checks[?@.name == 'db']"},  # only that it selects something
        )
    )
    await sidecar.wait_status("api", "healthy")


async def test_a_different_value_is_an_assertion_failure(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    dep = api(http_target.url + "/status.json", {"jsonPath": "$.status", "equals": "DOWN"})
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("api", "unhealthy")
    comp = sidecar.component("api")
    assert comp.reason == "assertion"
    assert comp.message == "$.status is 'UP', not 'DOWN'"


async def test_a_path_that_selects_nothing_fails(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    dep = api(http_target.url + "/status.json", {"jsonPath": "$.components.db", "regex": "UP"})
    sidecar = await make_sidecar(dep)
    await sidecar.wait_status("api", "unhealthy")
    assert sidecar.component("api").message == "$.components.db selects nothing"


async def test_a_body_that_is_not_json_fails(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    sidecar = await make_sidecar(api(http_target.url + "/ok", {"jsonPath": "$.status"}))
    await sidecar.wait_status("api", "healthy")  # {"status": "up"}: JSON, and selected
    sidecar = await make_sidecar(
        {**api(http_target.url + "/html/models", {"jsonPath": "$.status"}), "name": "html"}
    )
    await sidecar.wait_status("html", "unhealthy")
    assert sidecar.component("html").message.startswith("the body is not JSON")


async def test_a_body_over_max_body_bytes_fails_assertions_but_not_body_regex(
    make_sidecar: MakeSidecar, http_target: Target
) -> None:
    big = http_target.url + "/status.json?pad=200000"  # ~200 kB: over a 64 KiB cap
    checked = api(big, {"jsonPath": "$.status", "equals": "UP"}, maxBodyBytes=65536)
    regex = {**api(big, bodyRegex='"status": ?"UP"', maxBodyBytes=65536), "name": "regex"}
    roomy = {**api(big, {"jsonPath": "$.status", "equals": "UP"}), "name": "roomy"}
    sidecar = await make_sidecar(checked, regex, roomy)
    await sidecar.wait_status("api", "unhealthy")
    assert sidecar.component("api").message == (
        "the body is larger than maxBodyBytes: not evaluated"
    )
    await sidecar.wait_status("regex", "healthy")  # the regex searches the first bytes
    await sidecar.wait_status("roomy", "healthy")  # the default (1 MiB) holds the whole body
