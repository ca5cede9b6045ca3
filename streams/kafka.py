"""Kafka client options from settings: TLS/SASL, and the embedded-broker profile.

The embedded profile exists for one Tansu defect: when a produce request carries a
multi-record batch, Tansu reports the high watermark as the last batch's base offset
+ 1, which breaks Faust's changelog recovery. Single-record batches (``max_batch_size``
of 1 byte: every record gets its own batch) give correct watermarks. A real Kafka
cluster keeps the normal batching.

No riskstream client lets the broker auto-create a topic (:func:`forbid_topic_auto_creation`):
a topic made by a metadata request gets the broker's default partition count (Tansu: 4),
which is wrong for the weather and dead-letter topics and breaks co-partitioning when the
rider topics use another count. Topics come from :func:`streams.topics.ensure_topics`, and
Faust's changelog topics from Faust, each with its partition count.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import KafkaSettings, Settings

#: Bytes; forces one record per batch (see module docstring).
EMBEDDED_MAX_BATCH_BYTES = 1
#: Seconds; Tansu makes each group join wait about half the session timeout.
EMBEDDED_SESSION_TIMEOUT_S = 10.0


def forbid_topic_auto_creation() -> None:
    """Make every aiokafka metadata request of this process say ``allow_auto_topic_creation=false``.

    aiokafka 0.14 asks for auto-creation in every metadata request and has no option to
    stop it; Tansu honours the flag either way. Idempotent.
    """
    from aiokafka.protocol.metadata import MetadataRequest

    if getattr(MetadataRequest.__init__, "_riskstream_no_auto_create", False):
        return
    original = MetadataRequest.__init__

    def __init__(self: MetadataRequest, topics: list[str] | None = None,
                 allow_auto_topic_creation: bool | None = False) -> None:
        original(self, topics, False if allow_auto_topic_creation is None else allow_auto_topic_creation)

    __init__._riskstream_no_auto_create = True  # type: ignore[attr-defined]
    MetadataRequest.__init__ = __init__  # type: ignore[method-assign]


# Every riskstream process that builds a Kafka client imports this module first.
forbid_topic_auto_creation()


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.ssl_certfile:
        ctx.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    return ctx


def security_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for TLS/SASL."""
    kwargs: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    ctx = ssl_context(kafka)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return kwargs


def producer_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    kwargs = {"bootstrap_servers": kafka.bootstrap_servers, **security_kwargs(kafka)}
    if kafka.embedded:
        kwargs["max_batch_size"] = EMBEDDED_MAX_BATCH_BYTES
    else:
        kwargs["linger_ms"] = 5
    return kwargs


def consumer_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    kwargs = {"bootstrap_servers": kafka.bootstrap_servers, **security_kwargs(kafka)}
    if kafka.embedded:
        kwargs["session_timeout_ms"] = int(EMBEDDED_SESSION_TIMEOUT_S * 1000)
        kwargs["heartbeat_interval_ms"] = 1000
    return kwargs


def _credentials(settings: Settings) -> Any:
    from faust.auth import SASLCredentials, SSLCredentials

    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return None
    if kafka.security_protocol.startswith("SASL"):
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        return SASLCredentials(
            username=kafka.sasl_username or "",
            password=password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context(kafka),
        )
    return SSLCredentials(ssl_context(kafka))


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust keyword settings; the embedded profile only when ``kafka.embedded`` is true."""
    worker = settings.worker
    conf: dict[str, Any] = {
        "broker": settings.kafka.broker,
        "broker_credentials": _credentials(settings),
        "store": "memory://",
        "datadir": str(worker.state_dir / "faust"),
        "topic_partitions": settings.topics.partitions,
        "topic_replication_factor": settings.kafka.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": False,
        "broker_max_poll_records": 2000,
        "stream_buffer_maxsize": 8192,
        "consumer_max_fetch_size": 4 * 1024 * 1024,
    }
    if settings.kafka.embedded:
        conf.update(
            producer_max_batch_size=EMBEDDED_MAX_BATCH_BYTES,
            broker_session_timeout=EMBEDDED_SESSION_TIMEOUT_S,
            broker_heartbeat_interval=1.0,
            broker_rebalance_timeout=EMBEDDED_SESSION_TIMEOUT_S,
        )
    return conf
