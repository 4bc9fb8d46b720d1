"""A serving sidecar imports only what its config needs: memory is multiplied by every pod.

The real CLI runs as a subprocess (``python -m healthgate_sidecar.cli serve``, through a wrapper
that writes ``sys.modules`` to a file at exit) while it starts, checks and serves every endpoint.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.env import common
from tests.integration.sidecar.conftest import Served

DRIVERS = (
    "redis", "neo4j", "psycopg", "psycopg_binary", "dns", "re2", "grpc", "grpc_health",
    "google", "asyncmy", "aiormq", "pamqp", "aiosmtplib", "jsonpath", "aiokafka", "botocore",
)  # fmt: skip
# aiohttp imports aiodns (and pycares, ~1.3 MiB) where installed (the dev tools, not the image)
# unless serve blocks it: the sidecar resolves through its own ThreadedResolver either way.
UNUSED_EXTRAS = ("numpy", "pandas", "pyarrow", "aiodns", "pycares")


# Runs ``-m healthgate_sidecar.cli ...`` as __main__, and at exit lists what was imported.
WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = sys.argv[4:]
runpy.run_module("healthgate_sidecar.cli", run_name="__main__", alter_sys=True)
"""


def serve_and_exercise(
    serve: Callable[..., Served],
    tmp_path: Path,
    deps: list[dict[str, Any]],
    *,
    while_serving: Callable[[Served, Path], None] = lambda _served, _config: None,
) -> set[str]:
    """The top-level packages the serving sidecar imported."""
    return {name.split(".")[0] for name in served_modules(serve, tmp_path, deps, while_serving)}


def served_modules(
    serve: Callable[..., Served],
    tmp_path: Path,
    deps: list[dict[str, Any]],
    while_serving: Callable[[Served, Path], None] = lambda _served, _config: None,
) -> set[str]:
    """Every module the serving sidecar imported, by its full name."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dependencies": deps, "drainSeconds": 0}))
    listing = tmp_path / "modules.json"
    served = serve(config, wrap=[sys.executable, "-c", WRAPPER, str(listing)])
    served.wait(lambda: served.get("/startupz")[0] == 200, timeout=30)  # every check ran once
    for path in ("/livez", "/readyz", "/health", "/metrics", f"/health/{deps[0]['name']}"):
        served.get(path)
    while_serving(served, config)
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(10) == 0, served.log.read_text()[-2000:]
    return set(json.loads(listing.read_text()))


def test_an_http_only_sidecar_loads_no_driver(serve: Callable[..., Served], tmp_path: Path) -> None:
    closed = common.free_port()
    deps = [{"name": "api", "type": "http", "http": {"url": f"http://127.0.0.1:{closed}/"}}]
    modules = served_modules(serve, tmp_path, deps)
    found = {name.split(".")[0] for name in modules}
    assert "aiohttp" in found  # the log is complete: the http check's own client is there
    assert found.isdisjoint(DRIVERS + UNUSED_EXTRAS), found & set(DRIVERS + UNUSED_EXTRAS)
    # Nor the modules of the other check types (the 15 together are ~0.9 MiB).
    types = {name.rsplit(".", 1)[1] for name in modules if name.count(".") == 2
             and name.startswith("healthgate_sidecar.checks.") and "._" not in name}  # fmt: skip
    assert types == {"http", "base"}, types


def test_the_neo4j_driver_comes_without_numpy_pandas_pyarrow(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    # numpy is installed with the dev tools (checkov -> rustworkx): neo4j would load it.
    closed = common.free_port()
    deps = [
        {"name": "graph", "type": "neo4j", "critical": False,
         "neo4j": {"uri": f"bolt://127.0.0.1:{closed}", "passwordFromEnv": "HOME"}},
    ]  # fmt: skip
    found = serve_and_exercise(serve, tmp_path, deps)
    assert "neo4j" in found
    assert found.isdisjoint(UNUSED_EXTRAS), found & set(UNUSED_EXTRAS)


VALIDATION = ("pydantic", "pydantic_core", "annotated_types", "yaml", "_yaml")


def mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_a_serving_sidecar_never_loads_pydantic_not_even_to_reload(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    # Its config is validated in short-lived children: at start, and at each reload, valid or not.
    closed = common.free_port()
    deps = [{"name": "port", "type": "tcp", "critical": False,
             "tcp": {"host": "127.0.0.1", "port": closed}}]  # fmt: skip

    def reload_twice(served: Served, config: Path) -> None:
        config.write_text(json.dumps({"dependencies": [{"name": "x", "type": "http"}]}))
        served.proc.send_signal(signal.SIGHUP)
        served.wait(lambda: served.metric("healthgate_config_last_reload_successful") == 0)
        renamed = [{**deps[0], "name": "renamed"}]
        config.write_text(json.dumps({"dependencies": renamed, "drainSeconds": 0}))
        served.proc.send_signal(signal.SIGHUP)
        served.wait(lambda: served.get("/health/renamed")[0] != 404)
        assert served.metric("healthgate_config_last_reload_successful") == 1
        maps = mapped_files(served.proc.pid)
        assert "pydantic_core" not in maps, "pydantic's compiled core is mapped"
        assert "_yaml" not in maps, "libyaml's binding is mapped"
        assert "http: required for type http" in served.log.read_text()  # the child's problems

    found = serve_and_exercise(serve, tmp_path, deps, while_serving=reload_twice)
    assert "aiohttp" in found  # the log is complete
    assert found.isdisjoint(VALIDATION), found & set(VALIDATION)


def test_a_redis_check_speaks_resp_without_redis_py(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    # redis-py's import costs 6.4 MiB (checks/_resp.py says why): the check speaks RESP itself.
    closed = common.free_port()
    deps = [{"name": "cache", "type": "redis", "critical": False,
             "redis": {"url": f"redis://127.0.0.1:{closed}/0"}}]  # fmt: skip
    found = serve_and_exercise(serve, tmp_path, deps)
    assert "healthgate_sidecar" in found
    assert "redis" not in found
