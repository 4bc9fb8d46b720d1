"""``healthgate-operator``: parse the settings and run Kopf programmatically.

Kopf's own CLI is not used: it cannot carry our flags (webhook policy, sidecar image, ports) and
would import handlers from file paths. Here the registry, settings and runtime are built
explicitly and handed to ``kopf.operator``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

import kopf

from healthgate_operator import config as config_module
from healthgate_operator import (
    constants,
    diffbase,
    directives,
    runtime,
    tlsbuffers,
    webhook,
    wiring,
)
from healthgate_operator.config import OperatorConfig

WORKER_LIMIT = 64


def build_settings(config: OperatorConfig, rt: runtime.Runtime) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # Kopf's bookkeeping goes into our own annotations, not into status (our schema prunes it).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=constants.GROUP)
    # A digest, not a copy of the spec: a large gate must not overflow the annotations' 256 KiB.
    settings.persistence.diffbase_storage = diffbase.SpecDigestStorage(
        prefix=constants.GROUP, key="last-handled-configuration"
    )
    # No handler needs a finalizer (main.without_finalizers); this one is removed where found.
    settings.persistence.finalizer = f"{constants.GROUP}/finalizer"
    # Only warnings become Kubernetes Events; our own events are posted explicitly.
    settings.posting.level = logging.WARNING
    settings.admission.server = webhook.WebhookEndpoint(rt)
    settings.admission.managed = None  # see webhook.py: the install ships the configurations
    settings.peering.priority = config.peering.priority
    # Keep-alives every ~15 s; a dead leader is replaced after at most this long.
    settings.peering.lifetime = 30
    # Bounded concurrency: a burst of gates (kubectl apply -f of hundreds) is worked through by
    # a pool instead of one task and one API connection per gate at once. Kopf's API client has
    # no connection limit, and each TLS connection costs buffers (see tlsbuffers.py).
    settings.queueing.worker_limit = WORKER_LIMIT
    # A worker keeps its slot until idle this long; Kopf's 5 s would make a slot serve only one
    # gate per 5 s during a burst (measured: 1,000 gates took 193 s instead of ~35 s).
    settings.queueing.idle_timeout = 0.5
    settings.posting.worker_limit = 8
    settings.networking.request_timeout = 30.0
    settings.watching.server_timeout = 300
    return settings


class RoutineFilter(logging.Filter):
    """Drop Kopf's per-run success lines of the webhook, the liveness probe and the body trim.

    With N pods they are one line per pod (and one per probe), drowning the lines that matter;
    failures are still logged (at WARNING and above, which this never drops).
    """

    ROUTINE = (
        "Webhook 'inject-sidecar' succeeded",
        "Activity 'refresh-age' succeeded",
        "Handler 'trim-body' succeeded",  # one per gate event
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not record.getMessage().startswith(self.ROUTINE)


def configure_logging(level: str) -> None:
    # log_prefix: every line about a gate names it ([namespace/name]); with several shards
    # that is how one tells which replica handles which gate.
    kopf.configure(debug=level == "debug", quiet=level in ("warning", "error"), log_prefix=True)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if level != "debug":
        logging.getLogger("kopf.objects").addFilter(RoutineFilter())


async def run(config: OperatorConfig, *, stop_flag: asyncio.Event | None = None) -> None:
    rt = runtime.Runtime(config=config)
    registry = kopf.OperatorRegistry()
    wiring.register(registry, config)
    await kopf.operator(
        registry=registry,
        settings=build_settings(config, rt),
        memo=kopf.Memo({runtime.MEMO_KEY: rt}),
        clusterwide=config.scope.clusterwide,
        namespaces=list(config.scope.namespaces),
        standalone=config.peering.standalone,
        peering_name=config.peering.object_name,
        liveness_endpoint=f"http://{config.endpoints.listen_host}:{config.endpoints.health_port}/healthz",
        stop_flag=stop_flag,
    )


def main_entry(argv: Sequence[str] | None = None) -> int:
    config = config_module.parse(argv)
    configure_logging(config.log.level)
    logging.getLogger(__name__).info(
        "healthgate-operator: %s, webhook %s (failurePolicy %s), peering %s, shard %s",
        "all namespaces" if config.scope.clusterwide else ",".join(config.scope.namespaces),
        config.webhook.advertised_url,
        config.webhook.failure_policy,
        config.peering.object_name or "standalone",
        config.peering.shard.label(),
    )
    tlsbuffers.shrink()
    asyncio.run(run(config))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return main_entry(argv)
    except KeyboardInterrupt:
        return 130
    except directives.DirectiveKeyError as exc:
        print(f"healthgate-operator: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # A startup step that no retry fixes (kopf.PermanentError, e.g. a taken port) ends in
        # Kopf's ActivityError: say what failed in one line, not with two tracebacks.
        if isinstance(exc.__cause__, kopf.PermanentError):
            print(f"healthgate-operator: {exc.__cause__}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
