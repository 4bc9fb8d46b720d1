"""An OpenID Provider on a free loopback port: zitadel/oidc's example OP, built from the Go proxy.

The oidc checks need a provider whose discovery document, JWKS and token endpoint are real. Dex is
not served by the Go module proxy here and Ory Hydra needs a database; zitadel/oidc (a certified
OpenID Provider library) ships an example provider that keeps its state in memory, which
``oidc-provider/main.go`` wraps to listen on one loopback address with an issuer we choose.
Its built-in service user ``sid1`` may use the client-credentials grant with :data:`CLIENT_SECRET`.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.env import common, versions

CLIENT_ID = "sid1"  # the example storage's service user (client_credentials grant)
CLIENT_SECRET = "verysecret"  # fixed by the example; tests use it as a canary
REVISION = 1  # counts changes to oidc-provider/main.go (a new one is built into its own cache)


@dataclass
class OidcProvider(common.BinaryServer):
    """A running provider; ``stop``/``start`` simulate an outage on the same port."""

    name = "oidc-provider"

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def argv(self) -> list[str | Path]:
        return [self.binary, f"-listen={self.host}:{self.port}", f"-issuer={self.issuer}"]

    def ready(self) -> bool:
        url = f"{self.issuer}.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback http
                return bool(json.load(resp).get("issuer") == self.issuer)
        except (OSError, ValueError):
            return False


def ensure_installed() -> Path:
    bin_dir = common.go_component("oidc-provider", versions.ZITADEL_OIDC, revision=REVISION)
    return bin_dir / "oidc-provider"


def start(workdir: Path, host: str = "127.0.0.1") -> OidcProvider:
    binary = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    server = OidcProvider(host=host, port=common.free_port(host), workdir=workdir, binary=binary)
    server.start()
    return server
