"""Keeping credentials out of every output: URL redaction and scrubbing of known secret values.

Secrets are registered when a check resolves them (inline values, environment variables, files)
and scrubbed from check messages, logs and CLI output. Patterns catch what was never registered:
the userinfo of any URL (``scheme://TOKEN@`` as much as ``scheme://user:password@``), every query
value of a URL (``?sig=...``, ``X-Amz-Signature``: the host and path are enough to diagnose, so
only the keys are shown) and ``password=...``-style pairs.

Structured output is scrubbed value by value (:func:`scrub_data`), never as serialized text: a
pattern that eats a closing quote would otherwise break the JSON it was meant to protect.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
# Shorter values would blank out ordinary words; such "secrets" protect nothing anyway.
MIN_SECRET_LENGTH = 4

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]*):([^/\s@]+)@")
# Only ``key=value`` (libpq DSNs, query strings): ``key: value`` would also hit field paths
# such as "llm.apiKey: unknown key" in config problems.
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|token|secret|api[_-]?key)(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&,;]+)"
)
# Any URL in free text (an error message naming its target): userinfo and query values go.
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")

_lock = threading.Lock()  # logging may format records from other threads
_secrets: tuple[str, ...] = ()


def register_secret(value: str) -> None:
    """Remember a secret (and, for URLs and DSNs, the password inside it) for :func:`scrub`."""
    global _secrets  # noqa: PLW0603 - one process-wide set: every output path must see it
    found = {value, *_embedded_passwords(value)}
    found = {s for s in found if len(s) >= MIN_SECRET_LENGTH}
    with _lock:
        # Longest first, so a URL is masked whole before its password alone is.
        _secrets = tuple(sorted(set(_secrets) | found, key=len, reverse=True))


def register_embedded(value: str) -> None:
    """Register only the passwords inside a URL or DSN (the rest of it may be shown, redacted)."""
    for secret in _embedded_passwords(value):
        register_secret(secret)


def _embedded_passwords(value: str) -> set[str]:
    found = {m.group(3) for m in _URL_USERINFO.finditer(value)}
    found |= {m.group(3).strip("'\"") for m in _KEY_VALUE.finditer(value)}
    return found


def scrub(text: str) -> str:
    """Mask registered secrets, URL passwords, ``password=...`` pairs and bearer tokens."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)


def truncate(text: str, limit: int) -> str:
    """Cut long driver errors; a one-line message is what a probe reader needs."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clean(text: str, limit: int = 256) -> str:
    """Scrub, then truncate (in this order, so a cut can never leave half a secret)."""
    return truncate(scrub(text), limit)


def scrub_data(data: Any) -> Any:
    """A copy of JSON-like ``data`` with every string scrubbed; the structure stays valid."""
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {key: scrub_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(value) for value in data]
    return data


def redact_url(url: str) -> str:
    """``redis://user:pw@host/0?db=1&password=x`` -> ``redis://***@host/0?db=***&password=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:  # a username may be the token itself (http://TOKEN@host/)
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{_key(k)}={MASK}" for k, _ in pairs) if pairs else MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _key(key: str) -> str:
    # Keys are shown to say what was there; keep them printable and unambiguous.
    return "".join(c if c.isalnum() or c in "-_.~[]" else "%" for c in key)[:64]


def forget_all() -> None:
    """Drop registered secrets: the test suite resets them between tests (a process keeps them)."""
    global _secrets  # noqa: PLW0603
    with _lock:
        _secrets = ()
