"""Redaction of URLs and scrubbing of registered secrets from messages."""

from __future__ import annotations

import json

import pytest

from healthgate_sidecar import redact


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://user:pw@cache:6380", "rediss://***@cache:6380"),
        ("postgresql://app:pw@db/app?sslmode=require", "postgresql://***@db/app?sslmode=***"),
        ("http://api/x?token=abc&q=1", "http://api/x?token=***&q=***"),
        # A token as the username, and query keys that name no secret but carry one.
        ("http://User-Token-1@api/", "http://***@api/"),
        (
            "https://s3/b/o?X-Amz-Signature=a1b2&sig=c3&key=d4",
            "https://s3/b/o?X-Amz-Signature=***&sig=***&key=***",
        ),
        ("http://api/x?access_key=e5", "http://api/x?access_key=***"),
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
    assert "redis://***@host:1" in out
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


def test_scrub_masks_url_userinfo_and_query_values_in_free_text() -> None:
    text = "GET http://Bare-Token-77@api.local/x?sig=Sig-Value-88&page=2 failed"
    out = redact.scrub(text)
    assert "Bare-Token-77" not in out
    assert "Sig-Value-88" not in out
    assert "http://***@api.local/x?sig=***&page=***" in out


@pytest.mark.parametrize(
    "message",
    [
        "login failed: token=abc123'",
        'password="unterminated',
        'url http://u:p@h/?token=x"',
        "Bearer abc.def\\",
    ],
)
def test_scrub_data_keeps_json_valid(message: str) -> None:
    body = {"components": {"a": {"message": message, "n": 1, "list": [message, None]}}}
    text = json.dumps(redact.scrub_data(body))
    again = json.loads(text)
    assert again["components"]["a"]["n"] == 1
    assert "abc123" not in text
