"""dns: the name must resolve to at least one record of the expected type."""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver

from healthgate_sidecar.checks.base import CheckFailure, Details, Prober
from healthgate_sidecar.contract import DnsParams

MAX_SHOWN = 5


def _resolver(params: DnsParams, timeout: float) -> dns.asyncresolver.Resolver:
    if params.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(params.nameservers)
        resolver.port = params.port
    else:
        resolver = dns.asyncresolver.Resolver()  # resolv.conf, read once, not per check
    resolver.lifetime = timeout
    resolver.cache = None  # a health check must ask, not remember
    return resolver


def create(params: DnsParams, *, timeout: float) -> Prober:
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

    return Prober(check=check)
