"""Redaction of URLs and scrubbing of registered secrets from messages."""

from __future__ import annotations

import pytest

from healthgate_sidecar import redact


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://user:pw@cache:6380", "rediss://user:***@cache:6380"),
        (
            "postgresql://app:pw@db/app?sslmode=require",
            "postgresql://app:***@db/app?sslmode=require",
        ),
        ("http://api/x?token=abc&q=1", "http://api/x?token=***&q=1"),
        ("http://user@api/", "http://user@api/"),
        ("redis://cache:6379", "redis://cache:6379"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact.redact_url(url) == expected


def test_scrub_masks_registered_secrets_and_patterns() -> None:
    redact.register_secret("registered-Secret-42")
    text = (
        "auth failed with registered-Secret-42 for redis://:other-pw@host:1 "
        "dsn host=db password=hunter22 user=x; Authorization: Bearer abc.def-ghi"
    )
    out = redact.scrub(text)
    for leaked in ("registered-Secret-42", "other-pw", "hunter22", "abc.def-ghi"):
        assert leaked not in out
    assert "redis://:***@host:1" in out
    assert "host=db" in out


def test_register_finds_passwords_inside_urls_and_dsns() -> None:
    redact.register_secret("postgresql://u:inner-Pass-1@db/x")
    redact.register_secret("host=db password='quoted-Pass-2' user=u")
    assert redact.scrub("failed: inner-Pass-1 / quoted-Pass-2") == "failed: *** / ***"


def test_register_embedded_keeps_the_rest_of_the_url() -> None:
    redact.register_embedded("http://u:embedded-Pw-3@api.local/health")
    assert redact.scrub("cannot reach api.local (embedded-Pw-3)") == "cannot reach api.local (***)"


def test_short_values_are_not_treated_as_secrets() -> None:
    redact.register_secret("ab")
    assert redact.scrub("about a tab") == "about a tab"


def test_clean_scrubs_before_truncating() -> None:
    secret = "Tail-Secret-99"
    redact.register_secret(secret)
    text = "x" * 250 + secret
    cleaned = redact.clean(text, limit=256)
    assert len(cleaned) <= 256
    assert "Tail-Se" not in cleaned


def test_truncate_flattens_whitespace() -> None:
    assert redact.truncate("a\n  b\tc", 10) == "a b c"
    assert redact.truncate("abcdefghijkl", 8) == "abcde..."
