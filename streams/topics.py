"""Create every topic riskstream reads or writes, with its partition count, at start-up.

Faust does not create the topics its agents read from (they would be auto-created
with one partition), so the CLI creates them before a worker or producer starts.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.errors import BrokerError
from streams.kafka import security_kwargs
from streams.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


def topic_specs(settings: Settings) -> list[NewTopic]:
    t = settings.topics
    rf = settings.kafka.replication_factor
    rider_keyed = [t.wearable, t.trip, t.incidents, t.responses, t.alerts, t.escalations, t.audit]
    specs = [NewTopic(name, t.partitions, rf) for name in rider_keyed]
    for spec in specs:
        if spec.name == t.audit:
            spec.topic_configs = {"retention.ms": str(t.audit_retention_days * DAY_MS)}
    specs += [
        NewTopic(t.weather, 1, rf),  # small; every worker needs all of it (global table)
        NewTopic(t.risk_scores, t.partitions, rf),
        NewTopic(t.dlq, 1, rf),
    ]
    return specs


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        request_timeout_ms=int(timeout_s * 1000),
        **security_kwargs(settings.kafka),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError) as exc:
        raise BrokerError(
            f"RISKSTREAM_KAFKA__BROKER is not reachable at {settings.kafka.bootstrap_servers} — start "
            f"`riskstream broker` or set it to your cluster ({exc.__class__.__name__})"
        ) from None
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in topic_specs(settings) if s.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them first
            log.info("created topics: %s", ", ".join(f"{s.name}[{s.num_partitions}]" for s in missing))
        return [s.name for s in missing]
    finally:
        await admin.close()
