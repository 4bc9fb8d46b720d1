"""Issue 14 item 5: hung name lookups of some dependencies must not starve another's check.

The sidecar runs as a real process in a private mount namespace whose ``/etc/resolv.conf``
names a local UDP "nameserver" on 127.0.0.x that never answers, so lookups hang without the
machine's resolver ever being asked; its private ``/etc/hosts`` resolves the one healthy,
critical dependency to 127.0.0.1. No packet leaves loopback.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.env import common
from tests.integration.sidecar.conftest import Served

# More than asyncio's default executor ever has (min(32, cpus + 4)): fails before the fix
# on a machine of any size.
HANGING = 34
CRITICAL_HOST = "critical.healthgate.test"
CRITICAL = ("critical", "critical-port")


@pytest.fixture
def silent_nameserver() -> Iterator[str]:
    """A bound UDP port 53 on a 127.0.0.x that reads nothing: queries wait for ever."""
    if os.geteuid() != 0:
        message = "needs root: binding port 53 and unshare --mount"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    for _ in range(20):
        address = f"127.0.0.{random.randint(100, 250)}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((address, 53))
        except OSError:
            sock.close()
            continue
        with sock:
            yield address
        return
    pytest.fail("no free 127.0.0.x:53 for the silent nameserver", pytrace=False)


@pytest.fixture
def healthy_port() -> Iterator[int]:
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _namespace(tmp_path: Path, nameserver: str) -> list[str]:
    """The command prefix running the sidecar with our resolv.conf and hosts bind-mounted."""
    unshare = common.which_or_install("unshare", "util-linux")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {nameserver}\noptions timeout:30 attempts:1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {CRITICAL_HOST}\n")
    script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && shift 2 '
    script += '&& exec "$@"'
    mount = [str(unshare), "--mount", "--propagation", "private"]
    return [*mount, "sh", "-c", script, "ns", str(resolv), str(hosts)]


def _config(tmp_path: Path, port: int) -> Path:
    timing = {"intervalSeconds": 0.5, "timeoutSeconds": 0.4}
    hanging = [
        {"name": f"hang-{i}", "type": "tcp", "critical": False, **timing,
         "tcp": {"host": f"hang-{i}.healthgate.test", "port": 443}}
        for i in range(HANGING)
    ]  # fmt: skip
    # Both resolve through /etc/hosts; aiohttp would use aiodns if installed, tcp never does.
    critical = [
        {"name": "critical", "type": "http", **timing,
         "http": {"url": f"http://{CRITICAL_HOST}:{port}/ok"}},
        {"name": "critical-port", "type": "tcp", **timing,
         "tcp": {"host": CRITICAL_HOST, "port": port}},
    ]  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"dependencies": [*hanging, *critical], "jitter": 0}))
    return path


def _health(served: Served) -> dict[str, dict[str, object]]:
    status, body = served.get("/health")
    assert status in (200, 503), body
    components: dict[str, dict[str, object]] = json.loads(body)["components"]
    return components


def test_hung_lookups_do_not_starve_a_critical_check(
    serve: Callable[..., Served], tmp_path: Path, silent_nameserver: str, healthy_port: int
) -> None:
    served = serve(_config(tmp_path, healthy_port), wrap=_namespace(tmp_path, silent_nameserver))
    # Every hanging check has failed at least once: their lookups are all in flight.
    served.wait(
        lambda: all(
            c["status"] == "unhealthy" for n, c in _health(served).items() if n not in CRITICAL
        ),
        timeout=30,
    )
    served.wait(lambda: served.get("/readyz")[0] == 200, timeout=10)
    for _ in range(6):  # a few intervals: every round of the critical checks gets through
        health = _health(served)
        for name in CRITICAL:
            assert health[name]["status"] == "healthy", health[name]
        assert served.get("/readyz")[0] == 200
        time.sleep(0.5)  # one interval
    for name, component in _health(served).items():
        if name not in CRITICAL:
            assert component["status"] in ("unhealthy", "unknown"), component
            assert component["reason"] in ("dns", "timeout"), component
