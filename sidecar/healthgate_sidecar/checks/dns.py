"""dns: the name must resolve to at least one record of the expected type."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated, Literal

from healthgate_sidecar.checks.base import Checker, CheckFailure, CheckType, Details
from healthgate_sidecar.params import AfterValidator, Field, Model

if TYPE_CHECKING:
    import dns.asyncresolver

MAX_SHOWN = 5
RECORD_TYPES = Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"]


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("not an IP address") from None
    return value


IpAddress = Annotated[str, AfterValidator(_ip_address)]


class DnsParams(Model):
    """A DNS name that must resolve to at least one record of the expected type."""

    name: str = Field(min_length=1, max_length=253, description="Name to resolve.")
    record_type: RECORD_TYPES = Field("A", description="Record type that must be present.")
    nameservers: list[IpAddress] = Field(
        default_factory=list,
        description="Nameserver IP addresses; the system resolver (resolv.conf) when empty.",
    )
    port: int = Field(53, ge=1, le=65535, description="Nameserver port.")


def _resolver(params: DnsParams, timeout: float) -> dns.asyncresolver.Resolver:
    import dns.asyncresolver  # the driver, loaded only when a dns dependency is configured

    if params.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(params.nameservers)
        resolver.port = params.port
    else:
        resolver = dns.asyncresolver.Resolver()  # resolv.conf, read once, not per check
    resolver.lifetime = timeout
    resolver.cache = None  # a health check must ask, not remember
    return resolver


def create(params: DnsParams, *, timeout: float) -> Checker:
    import dns.exception
    import dns.resolver

    resolver = _resolver(params, timeout)

    async def check() -> Details:
        try:
            answer = await resolver.resolve(params.name, params.record_type, search=True)
        except dns.resolver.NXDOMAIN:
            raise CheckFailure("dns", f"{params.name} does not exist (NXDOMAIN)") from None
        except dns.resolver.NoAnswer:
            raise CheckFailure("dns", f"{params.name} has no {params.record_type} record") from None
        except dns.exception.Timeout:
            raise CheckFailure("timeout", f"no DNS answer for {params.name}") from None
        except dns.exception.DNSException as exc:
            raise CheckFailure("dns", str(exc) or exc.__class__.__name__) from None
        values = [record.to_text() for record in answer]
        return {
            "records": len(values),
            "answer": ", ".join(values[:MAX_SHOWN]),
            "ttl": answer.rrset.ttl if answer.rrset is not None else None,
        }

    return Checker(check=check)


CHECK_TYPE = CheckType(
    name="dns", params=DnsParams, create=create, description="Settings of a dns check."
)
