"""s3: HeadBucket, signed with AWS Signature Version 4, on any S3-compatible endpoint.

HeadBucket is the cheapest request that proves three things an app needs: the endpoint answers,
the credentials are accepted, and the bucket exists and is visible to them. botocore's
``S3SigV4Auth`` signs it (the signer every AWS SDK for Python uses, ~5 MiB once loaded, and only
when an s3 dependency is configured); aiohttp sends it. A HEAD answer has no body, so the status
code is all there is: 403 is ``auth``, 404 a missing bucket, 301/400 usually a wrong region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from healthgate_sidecar import redact
from healthgate_sidecar.checks import _httpclient
from healthgate_sidecar.checks.base import Checker, CheckFailure, CheckType, Details, read_secret
from healthgate_sidecar.params import Field, Secret, TlsMixin, env_field, file_field

if TYPE_CHECKING:
    from botocore.auth import S3SigV4Auth

REGION_HEADER = "x-amz-bucket-region"


class S3Params(TlsMixin):
    """An S3 bucket on any S3-compatible endpoint: HeadBucket signed with SigV4."""

    secret_fields = (
        Secret("access_key_id", required=True),
        Secret("secret_access_key", required=True),
        Secret("session_token"),
    )

    endpoint: str = Field(
        pattern=r"^https?://[^/\s]+",
        description="S3 API endpoint, e.g. https://s3.eu-west-1.amazonaws.com or "
        "http://minio.storage:9000.",
    )
    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket that must exist."
    )
    region: str = Field(
        "us-east-1", pattern=r"^[a-z0-9-]{1,32}$", description="Region the request is signed for."
    )
    access_key_id: str | None = Field(
        None, min_length=1, max_length=128, description="Access key id, inline."
    )
    access_key_id_from_env: str | None = env_field(
        "Environment variable holding the access key id."
    )
    access_key_id_file: str | None = file_field("File holding the access key id.")
    secret_access_key_from_env: str | None = env_field(
        "Environment variable holding the secret access key."
    )
    secret_access_key_file: str | None = file_field("File holding the secret access key.")
    session_token_from_env: str | None = env_field(
        "Environment variable holding a session token (temporary credentials)."
    )
    session_token_file: str | None = file_field("File holding a session token.")
    path_style: bool = Field(
        True,
        description="Address the bucket as <endpoint>/<bucket> (what S3-compatible servers "
        "expect) rather than <bucket>.<endpoint host> (AWS buckets created since 2020 need "
        "false).",
    )


def bucket_url(params: S3Params) -> str:
    """``<endpoint>/<bucket>`` (path style) or ``<scheme>://<bucket>.<host>/`` (virtual host)."""
    parts = urlsplit(params.endpoint)
    base_path = parts.path.rstrip("/")
    if params.path_style:
        return urlunsplit(parts._replace(path=f"{base_path}/{params.bucket}", query=""))
    host = f"{params.bucket}.{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=host, path=f"{base_path}/", query=""))


def _signer(params: S3Params) -> S3SigV4Auth:
    from botocore.auth import S3SigV4Auth  # loaded only with an s3 check
    from botocore.credentials import Credentials

    access_key = read_secret(
        value=params.access_key_id,
        from_env=params.access_key_id_from_env,
        file=params.access_key_id_file,
    )
    secret_key = read_secret(
        value=None,
        from_env=params.secret_access_key_from_env,
        file=params.secret_access_key_file,
    )
    token = read_secret(
        value=None, from_env=params.session_token_from_env, file=params.session_token_file
    )
    assert access_key is not None  # required by the contract
    assert secret_key is not None
    return S3SigV4Auth(Credentials(access_key, secret_key, token), "s3", params.region)


def _signed_headers(signer: S3SigV4Auth, url: str) -> dict[str, str]:
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="HEAD", url=url, headers={})
    signer.add_auth(request)  # stamps X-Amz-Date now: a signature is valid for 15 minutes
    return {name: str(value) for name, value in request.headers.items()}


def _status_failure(params: S3Params, status: int, region: str | None) -> CheckFailure:
    elsewhere = region is not None and region != params.region
    hint = f" (the bucket is in region {region})" if elsewhere else ""
    if status == 403:
        return CheckFailure("auth", f"access to bucket {params.bucket} denied (403){hint}")
    if status == 404:
        return CheckFailure("assertion", f"bucket {params.bucket} does not exist")
    return CheckFailure("status", f"HeadBucket answered {status}{hint}")


def create(params: S3Params, *, timeout: float) -> Checker:
    signer = _signer(params)
    url = bucket_url(params)
    target = redact.redact_url(url)
    session = _httpclient.session(ca_file=params.ca_file, verify=params.tls_verify)

    import aiohttp  # not at import: the config's validator loads every type module

    async def check() -> Details:
        headers = _signed_headers(signer, url)
        try:
            # No redirects: a signed request is only valid for the host it was signed for.
            async with session.head(url, headers=headers, allow_redirects=False) as resp:
                status, region = resp.status, resp.headers.get(REGION_HEADER)
        except aiohttp.ClientError as exc:
            raise _httpclient.failure(exc) from None
        if status != 200:
            raise _status_failure(params, status, region)
        return {"bucket": params.bucket, "region": region or params.region, "target": target}

    return Checker(check=check, close=session.close)


CHECK_TYPE = CheckType(
    name="s3", params=S3Params, create=create, description="Settings of an s3 check."
)
