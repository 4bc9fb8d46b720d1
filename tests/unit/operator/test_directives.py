"""directives: the operator's signing key and the directives its sidecars verify."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from healthgate_operator import config as config_module
from healthgate_operator import directives
from healthgate_operator.builders import config, shared_outage
from healthgate_sidecar import directives as sidecar_directives
from healthgate_sidecar.contract import DirectiveSettings

UID = "5f0c-uid"
SPEC = {"selector": {"matchLabels": {"app": "a"}}, "dependencies": [{"name": "cache",
        "type": "tcp", "tcp": {"host": "127.0.0.1", "port": 6379}}]}  # fmt: skip


def pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def verdict() -> shared_outage.Verdict:
    return shared_outage.Verdict(active={"cache": (3, 3)})


def test_a_signed_directive_verifies_in_the_sidecar(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(pem(key))
    signer = directives.Signer.load(tmp_path / "key.pem")
    settings = DirectiveSettings.model_validate(signer.settings(UID))
    verifier = sidecar_directives.Verifier(settings)
    directive = directives.build(UID, verdict(), interval=10)
    assert directive.expires_at - directive.issued_at == 30  # three status intervals
    accepted = verifier.verify(signer.sign(directive), now=time.time())
    assert [(f.name, f.unhealthy, f.pods) for f in accepted.fail_open] == [("cache", 3, 3)]


def test_without_a_key_file_each_start_makes_its_own_key() -> None:
    first, second = directives.Signer.load(None), directives.Signer.load(None)
    assert first.public_key != second.public_key
    other = DirectiveSettings.model_validate(second.settings(UID))
    with pytest.raises(sidecar_directives.Rejected):
        sidecar_directives.Verifier(other).verify(
            first.sign(directives.build(UID, verdict(), 10)), now=time.time()
        )


def test_trusted_keys_are_published_for_a_rotation() -> None:
    nxt = directives.Signer.load(None)
    signer = directives.Signer.load(None, (nxt.public_key,))
    assert signer.settings(UID)["publicKeys"] == [signer.public_key, nxt.public_key]
    verifier = sidecar_directives.Verifier(DirectiveSettings.model_validate(signer.settings(UID)))
    verifier.verify(nxt.sign(directives.build(UID, verdict(), 10)), now=time.time())


def test_unusable_keys_are_refused_naming_the_flag(tmp_path: Path) -> None:
    with pytest.raises(directives.DirectiveKeyError, match="--directive-key: cannot read"):
        directives.Signer.load(tmp_path / "missing.pem")
    (tmp_path / "garbage.pem").write_text("not a key")
    with pytest.raises(directives.DirectiveKeyError, match="not a PEM private key"):
        directives.Signer.load(tmp_path / "garbage.pem")
    (tmp_path / "ec.pem").write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(directives.DirectiveKeyError, match="not an Ed25519 key"):
        directives.Signer.load(tmp_path / "ec.pem")
    with pytest.raises(directives.DirectiveKeyError, match="--directive-trusted-keys"):
        directives.Signer.load(None, ("c2hvcnQ=",))


def test_flags_reach_the_config(tmp_path: Path) -> None:
    parsed = config_module.parse(
        ["--directive-key", str(tmp_path / "k.pem"), "--directive-trusted-keys", "a, b"], {}
    )
    assert parsed.directives.key == tmp_path / "k.pem"
    assert parsed.directives.trusted_keys == ("a", "b")


def test_the_configmap_names_the_keys_and_users_cannot() -> None:
    signer = directives.Signer.load(None)
    rendered = config.render_config(SPEC, directives=signer.settings(UID))
    assert rendered.config.directives is not None
    assert rendered.config.directives.gate == UID
    assert signer.public_key in rendered.text
    sneaky = {**SPEC, "sidecar": {"directives": {"gate": UID, "publicKeys": ["x"]}}}
    assert config.render_config(sneaky).config.directives is None
