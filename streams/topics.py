"""Create every topic riskstream reads or writes, with its partition count, at start-up,
and notice a broker that lost them.

Faust does not create the topics its agents read from, and no riskstream client lets the
broker auto-create one (:func:`streams.kafka.forbid_topic_auto_creation`), so the CLI
creates them before a worker or producer starts. An existing topic with another partition
count stops the start with a message: riskstream does not repair it.

The embedded broker keeps everything in memory: after a restart it answers again with no
topics, no committed offsets and no changelog. :class:`BrokerWatch` notices that (the
cluster id changed, or a topic is gone or has another partition count) so the worker can
stop at once with a message instead of running on without its state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from riskstream.contracts.errors import BrokerError
from streams.kafka import security_kwargs
from streams.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
#: Kafka's UNKNOWN_TOPIC_OR_PARTITION error code: the topic does not exist.
UNKNOWN_TOPIC = 3


def topic_specs(settings: Settings) -> list[NewTopic]:
    t = settings.topics
    rf = settings.kafka.replication_factor
    rider_keyed = [t.wearable, t.trip, t.incidents, t.responses, t.alerts, t.escalations, t.audit, t.acknowledgements]
    specs = [NewTopic(name, t.partitions, rf) for name in rider_keyed]
    for spec in specs:
        if spec.name == t.audit:
            spec.topic_configs = {"retention.ms": str(t.audit_retention_days * DAY_MS)}
    specs += [
        NewTopic(t.weather, 1, rf),  # small; every worker reads all of it (docs/weather-feed.md)
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
    except (TimeoutError, KafkaConnectionError, OSError) as exc:
        raise BrokerError(
            f"RISKSTREAM_KAFKA__BROKER is not reachable at {settings.kafka.bootstrap_servers} — start "
            f"`riskstream broker` or set it to your cluster ({exc.__class__.__name__})"
        ) from None
    try:
        existing = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
        specs = topic_specs(settings)
        wrong = [f"{s.name} has {existing[s.name]} partitions, riskstream needs {s.num_partitions}"
                 for s in specs if s.name in existing and existing[s.name] != s.num_partitions]
        if wrong:
            raise BrokerError(
                f"topics on {settings.kafka.bootstrap_servers} do not match riskstream's: {'; '.join(wrong)}. "
                "A broker that auto-creates topics for any client gives them its default partition count. "
                "Delete these topics (on the embedded broker: restart `riskstream broker`, it keeps nothing) "
                "and start again, or set RISKSTREAM_TOPICS__PARTITIONS to the rider topics' count"
            )
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them first
            log.info("created topics: %s", ", ".join(f"{s.name}[{s.num_partitions}]" for s in missing))
        return [s.name for s in missing]
    finally:
        await admin.close()


@dataclass(frozen=True)
class BrokerView:
    """What the worker checks on the broker: its cluster id and topics' partition counts (absent: missing)."""

    cluster_id: str | None
    partitions: dict[str, int]


def lost_since(before: BrokerView, now: BrokerView, required: dict[str, int]) -> list[str]:
    """What the broker lost since ``before``: a new cluster id, a topic gone or with another partition count.

    ``required`` topics must be there with these counts; any other topic of ``before`` must still be there
    as it was (Faust's changelog topics, which exist only once Faust created them).

    >>> before = BrokerView("c1", {"in": 4, "app-changelog": 4})
    >>> lost_since(before, before, {"in": 4})
    []
    >>> lost_since(before, BrokerView("c2", {"in": 4}), {"in": 4})
    ['the cluster id changed from c1 to c2', 'topic gone (app-changelog)']
    >>> lost_since(before, BrokerView("c1", {"in": 1, "app-changelog": 4}), {"in": 4})
    ['topic in has 1 partitions instead of 4']
    """
    changes = []
    if before.cluster_id is not None and now.cluster_id is not None and now.cluster_id != before.cluster_id:
        changes.append(f"the cluster id changed from {before.cluster_id} to {now.cluster_id}")
    expected = {**before.partitions, **required}
    gone = [name for name in expected if name not in now.partitions]
    if gone:
        changes.append(f"{'topic' if len(gone) == 1 else f'{len(gone)} topics'} gone ({', '.join(gone)})")
    changes += [f"topic {name} has {now.partitions[name]} partitions instead of {count}"
                for name, count in expected.items() if name in now.partitions and now.partitions[name] != count]
    return changes


def broker_lost_message(bootstrap: str, changes: list[str]) -> str:
    """What happened, what it means and what to do, for a worker that stops because its broker lost data."""
    return (
        f"the Kafka broker at {bootstrap} lost riskstream's data: {'; '.join(changes)}. "
        "It restarted, and the embedded broker (`riskstream broker`, Tansu) keeps everything in memory, so its "
        "topics, the committed offsets and the changelogged rider state are gone. This worker stops rather than run "
        "on without them. What to do: start the worker again (`riskstream worker`): it recreates the topics with "
        "their partition counts and starts clean (rider state and offsets start empty). Against a real Kafka "
        "cluster this means the cluster lost data: restore it before you start the worker again"
    )


class BrokerWatch:
    """Looks at the broker now and then; says what it lost since the first look.

    ``internal`` are Faust's own topics of this app (changelogs): checked once they exist.
    Only metadata of the listed topics is asked for, never of the whole cluster, and never
    with auto-creation.
    """

    def __init__(self, settings: Settings, internal: dict[str, int], timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.required = {spec.name: spec.num_partitions for spec in topic_specs(settings)}
        self.topics = sorted({*self.required, *internal})
        self.timeout_s = timeout_s
        self.baseline: BrokerView | None = None
        self._client: AIOKafkaClient | None = None

    async def view(self) -> BrokerView | None:
        """The broker as it is, or None while it does not answer (the clients retry meanwhile)."""
        try:
            if self._client is None:
                client = AIOKafkaClient(bootstrap_servers=self.settings.kafka.bootstrap_servers,
                                        request_timeout_ms=int(self.timeout_s * 1000),
                                        **security_kwargs(self.settings.kafka))
                await asyncio.wait_for(client.bootstrap(), self.timeout_s)
                self._client = client
            node = self._client.get_random_node()
            if node is None:
                return None
            request = MetadataRequest(self.topics, allow_auto_topic_creation=False)
            response = await asyncio.wait_for(self._client.send(node, request), self.timeout_s)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.debug("broker check: %s does not answer (%s)", self.settings.kafka.bootstrap_servers, exc)
            return None
        data = response.to_object()
        if any(t["error_code"] not in (0, UNKNOWN_TOPIC) for t in data["topics"]):
            return None  # e.g. a leader election on a real cluster: not a clear view, look again later
        partitions = {t["topic"]: len(t["partitions"]) for t in data["topics"] if t["error_code"] == 0}
        return BrokerView(data.get("cluster_id"), partitions)

    async def lost(self) -> list[str]:
        """What the broker lost since the first look (empty: nothing, or the broker does not answer now)."""
        now = await self.view()
        if now is None:
            return []
        if self.baseline is None:
            self.baseline = now
            log.info("broker check: %s has cluster id %s and %d of riskstream's %d topics; checked again every few "
                     "seconds", self.settings.kafka.bootstrap_servers, now.cluster_id, len(now.partitions),
                     len(self.topics))
            return lost_since(BrokerView(now.cluster_id, {}), now, self.required)
        changes = lost_since(self.baseline, now, self.required)
        if not changes:  # Faust's changelog topics join the baseline once they exist
            self.baseline = BrokerView(self.baseline.cluster_id, {**self.baseline.partitions, **now.partitions})
        return changes

    async def look_once(self) -> list[str]:
        """:meth:`lost`, then close the client (for a look from an event loop that ends afterwards)."""
        try:
            return await self.lost()
        finally:
            await self.close()

    def copy(self) -> BrokerWatch:
        """A watch with the same first look and no client yet (for another thread or event loop)."""
        other = BrokerWatch(self.settings, {}, self.timeout_s)
        other.topics, other.baseline = self.topics, self.baseline
        return other

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
