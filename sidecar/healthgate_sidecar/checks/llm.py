"""llm: lists the models of an OpenAI-compatible API (costs no tokens); rate-limit headers."""

from __future__ import annotations

import json
from collections.abc import Mapping

from healthgate_sidecar import redact
from healthgate_sidecar.checks import _httpclient
from healthgate_sidecar.checks.base import Checker, CheckFailure, CheckType, Details, read_secret
from healthgate_sidecar.params import Field, Secret, TlsMixin, env_field, file_field

MAX_RATE_HEADERS = 8


class LlmParams(TlsMixin):
    """An OpenAI-compatible API (OpenAI, OpenRouter, LiteLLM): lists models, costs no tokens."""

    # A local proxy may need no key, so the key is optional; two sources are still an error.
    secret_fields = (Secret("api_key"),)

    base_url: str = Field(
        pattern=r"^https?://[^/\s]+",
        description="API base URL, e.g. https://openrouter.ai/api/v1 (``/models`` is appended).",
    )
    api_key_from_env: str | None = env_field("Environment variable holding the API key.")
    api_key_file: str | None = file_field("File holding the API key.")
    model: str | None = Field(
        None, min_length=1, description="Model id that must be listed, e.g. gpt-4o-mini."
    )


def _model_ids(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
        return [str(item["id"]) for item in data["data"]]
    except (ValueError, KeyError, TypeError):
        raise CheckFailure("assertion", "the answer is not an OpenAI-style model list") from None


def _rate_limits(headers: Mapping[str, str]) -> Details:
    # OpenAI: x-ratelimit-remaining-requests...; OpenRouter: x-ratelimit-remaining...
    found: Details = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-ratelimit-") and len(found) < MAX_RATE_HEADERS:
            found[lower] = str(value)[:64]
    return found


def create(params: LlmParams, *, timeout: float) -> Checker:
    key = read_secret(value=None, from_env=params.api_key_from_env, file=params.api_key_file)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = params.base_url.rstrip("/") + "/models"
    target = redact.redact_url(url)
    session = _httpclient.session(ca_file=params.ca_file, verify=params.tls_verify)

    import aiohttp  # not at import: the config's validator loads every type module

    async def check() -> Details:
        try:
            async with session.get(url, headers=headers) as resp:
                body = await resp.content.read(_httpclient.BODY_LIMIT)
                status, limits = resp.status, _rate_limits(resp.headers)
        except aiohttp.ClientError as exc:
            raise _httpclient.failure(exc) from None
        if status == 429:
            raise CheckFailure("status", f"{target} answered 429: rate limited")
        if not 200 <= status < 300:
            raise _httpclient.status_failure(status, target)
        models = _model_ids(body)
        details: Details = {"statusCode": status, "models": len(models), "target": target}
        if params.model is not None:
            if params.model not in models:
                raise CheckFailure("assertion", f"model {params.model} is not listed")
            details["model"] = params.model
        return {**details, **limits}

    return Checker(check=check, close=session.close)


CHECK_TYPE = CheckType(
    name="llm",
    params=LlmParams,
    create=create,
    description="Settings of an llm (OpenAI-compatible) check.",
)
