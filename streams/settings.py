"""One frozen settings object, read from ``RISKSTREAM_*`` environment variables.

Nested values use ``__``: ``RISKSTREAM_KAFKA__BROKER=kafka-1:9092``,
``RISKSTREAM_FEATURES__HARSH_BRAKE_G=0.4`` or ``RISKSTREAM_ALERTS__COOLDOWN_S=600``. Every section
is a typed model, so every value is checked when the settings load, and a ``RISKSTREAM_*``
variable that names no setting is an error naming the nearest one (:func:`unknown_variables`).
Secrets are ``SecretStr`` and are hidden when printed (``riskstream config``).

>>> s = Settings()
>>> s.kafka.broker, s.metrics.port
('kafka://127.0.0.1:9092', 9464)
>>> "hmac_key" in s.public_dump()["privacy"], s.public_dump()["privacy"]["hmac_key"]
(True, '**********')

Outside the embedded profile the worker and the push gateway refuse the shipped secrets:

>>> s.check_secrets("privacy.hmac_key")  # embedded: the demo key is fine
>>> s.model_copy(update={"kafka": KafkaSettings(embedded=False)}).check_secrets("privacy.hmac_key")
Traceback (most recent call last):
...
riskstream.contracts.errors.ConfigError: RISKSTREAM_PRIVACY__HMAC_KEY is the demo key shipped with riskstream ...
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from alerts.config import AlertConfig, PremiumConfig
from alerts.pseudonym import MIN_KEY_BYTES
from features.config import FeatureConfig
from models.estimators import DEFAULT_ESTIMATOR, ESTIMATOR_NAMES
from riskstream.contracts.errors import ConfigError
from riskstream.contracts.records import DEFAULT_TOPICS

#: Every setting is an environment variable ``RISKSTREAM_<SECTION>__<NAME>``.
ENV_PREFIX = "RISKSTREAM_"
ENV_DELIMITER = "__"
#: Shortest secret accepted outside the embedded profile: 32 bytes, the output size of SHA-256
#: (RFC 2104 §3: keys shorter than the hash output weaken the HMAC).
MIN_PRODUCTION_SECRET_BYTES = 32
#: Secret values published in this repository: the defaults below and deploy/k8s/secret.yaml's placeholder.
SHIPPED_SECRETS = frozenset({
    "riskstream-demo-key-change-me",
    "riskstream-demo-webhook-secret-change-me",
    "replace-me-with-a-random-32-byte-hex-key",
})
#: A value containing one of these is a placeholder someone forgot to replace.
_PLACEHOLDER = re.compile(r"change[-_ ]?me|replace[-_ ]?me|placeholder", re.IGNORECASE)
_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class KafkaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Bootstrap servers, e.g. kafka://host1:9092;host2:9092 (or host:port).",
    )
    embedded: bool = Field(
        True,
        description="Embedded-broker profile (Tansu): single-record batches and short session "
        "timeouts. Set false for a real Kafka cluster.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    replication_factor: int = Field(1, ge=1, description="Replication of topics riskstream creates.")

    @field_validator("broker")
    @classmethod
    def _scheme(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("RISKSTREAM_KAFKA__BROKER is empty: set it to host:port of a Kafka broker")
        return value if "://" in value else f"kafka://{value}"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port,host:port`` for aiokafka clients."""
        hosts = self.broker.split("://", 1)[1]
        return ",".join(h.strip() for h in hosts.replace(";", ",").split(",") if h.strip())


class TopicSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    wearable: str = DEFAULT_TOPICS["wearable"]
    trip: str = DEFAULT_TOPICS["trip"]
    weather: str = DEFAULT_TOPICS["weather"]
    incidents: str = DEFAULT_TOPICS["incidents"]
    responses: str = DEFAULT_TOPICS["responses"]
    alerts: str = DEFAULT_TOPICS["alerts"]
    escalations: str = DEFAULT_TOPICS["escalations"]
    risk_scores: str = DEFAULT_TOPICS["risk_scores"]
    audit: str = DEFAULT_TOPICS["audit"]
    dlq: str = DEFAULT_TOPICS["dlq"]
    acknowledgements: str = DEFAULT_TOPICS["acknowledgements"]
    partitions: int = Field(
        48, ge=1, description="Partitions of the rider-keyed topics (all co-partitioned): the most workers that can "
        "share the riders. It cannot be raised later without moving every rider's state, so it is sized for growth: "
        "48 splits evenly over 1, 2, 3, 4, 6, 8, 12, 16, 24 or 48 workers (docs/scaling.md). A cluster whose topics "
        "were created with another count keeps it: set this to that count.")
    audit_retention_days: int = Field(3 * 365, description="Decision logs are kept 3 years.")

    def by_role(self) -> dict[str, str]:
        return {
            "wearable": self.wearable,
            "trip": self.trip,
            "weather": self.weather,
            "incidents": self.incidents,
            "responses": self.responses,
            "alerts": self.alerts,
            "escalations": self.escalations,
            "risk_scores": self.risk_scores,
            "audit": self.audit,
            "dlq": self.dlq,
            "acknowledgements": self.acknowledgements,
        }


class WorkerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: str = "riskstream"
    state_dir: Path = Path(".riskstream/state")
    score_every_event_s: float = Field(60.0, gt=0, description="Event-time seconds between scores of one rider.")
    premium_interval_event_s: float = Field(
        900.0, gt=0, description="Event-time seconds between premium signals of one rider (material changes go sooner)."
    )
    snapshot_every_s: float = Field(300.0, gt=0, description="Event-time seconds between labelled feature snapshots.")
    label_grace_s: float = Field(
        1800.0, ge=0, description="Event-time seconds a snapshot waits past the model's horizon for a late incident "
        "report before it is learned; reports later than this are counted in riskstream_online_late_labels_total.",
    )
    fall_response_timeout_s: float = Field(
        120.0, gt=0, description="Seconds a rider has to answer 'Are you OK?' before the safety team is called."
    )
    misjudgement_below_p: float = Field(
        0.005, ge=0, le=1,
        description="An incident whose target the models had scored below this counts as a misjudgement; "
        "repeated misjudgements switch to the conservative rule-based mode.",
    )
    rider_ttl_s: float = Field(
        30 * 86400, ge=8 * 86400,
        description="Event-time seconds a rider may be silent before the worker drops the rider's state from memory "
        "and deletes it from the rider-state table (a tombstone; checked once per day of event time), so junk rider "
        "ids do not live forever. At least 8 days, longer than the longest feature window (7 days); a rider back "
        "after that starts fresh (features, alert history and premium credibility).",
    )
    max_future_skew_s: float = Field(
        600.0, gt=0, description="Records stamped further ahead of the worker's clock are dead-lettered."
    )
    min_event_time: datetime = Field(
        datetime(2020, 1, 1, tzinfo=timezone.utc),
        description="Records stamped before this are dead-lettered as implausible_timestamp (a device with an unset "
        "clock sends 1970-01-01; a numeric ts such as 12345 is read as seconds since 1970). Lower it to replay "
        "older data.",
    )
    max_stream_jump_s: float = Field(
        60.0, gt=0,
        description="A trip or wearable record stamped more than this ahead of its rider's own stream (the newest "
        "applied record of that stream) is held, not applied, until it is confirmed: the rider's next record of that "
        "stream lands within this distance of it, or the stream catches up to it. A held record replaced by another "
        "unconfirmed jump is dead-lettered as unconfirmed_jump. So one bad clock cannot move the rider's event time, "
        "and cannot make the rider's true records too late (keep it <= features.allowed_lateness_s).",
    )
    max_payload_bytes: int = Field(256 * 1024, description="Larger records are dead-lettered as too_large.")
    batch_size: int = Field(
        2000, ge=1, description="Records taken from the stream per batch; changed riders are written once per batch."
    )
    batch_within_s: float = Field(1.0, gt=0, description="Longest wait to fill a batch, in seconds.")
    weather_lookback_s: float | None = Field(
        None, ge=0, description="How far back (Kafka record time) each worker reads the weather topic when it "
        "starts; unset: the history the weather features need (features.weather_history_s, 26 h by default); "
        "0: the whole topic.",
    )
    weather_start_wait_s: float = Field(
        30.0, ge=0, description="At start, rider telemetry waits at most this long for the weather feed to read "
        "its backlog; riders scored before the weather arrives are scored again when it does.",
    )
    model_dir: Path | None = Field(None, description="Artifact directory; default: the shipped model.")
    model_reload_interval_s: float = Field(30.0, gt=0, description="How often to look for a new artifact version.")
    online_save_interval_s: float = Field(
        60.0, gt=0, description="How often the online model is written to state_dir if it learned since (and at shutdown).",
    )
    online_estimator: str = Field(
        DEFAULT_ESTIMATOR, description="River estimator of the online model (models.estimators.ESTIMATOR_NAMES, "
        "default chosen by `riskstream evaluate --online-select`); a stored online "
        "model built with another estimator is set aside and a fresh one starts.",
    )
    online_corrections: Literal["off", "recalibrate", "recalibrate+river"] = Field(
        "off", description="Online corrections of LightGBM's probabilities from the incident labels (models.blend): "
        "off, recalibrate (a monotone recalibration that follows a change in the level of risk), or "
        "recalibrate+river (also mix in the River model by its earned weight). Default off, by the rule of "
        "issue 15 on our own measurement (docs/reports/model-online-corrections.md, `riskstream evaluate "
        "--online-corrections`): both settings gain after a drift (log loss 0.4475 -> 0.4097 for accidents) but "
        "cost accident ranking when nothing drifts (second-half ROC-AUC 0.639 -> 0.570).",
    )
    stall_timeout_s: float = Field(
        120.0, gt=0, description="A rider or weather partition with records to read whose read offset does not move "
        "for this long (outside a rebalance) stops the worker with exit status 75, so a restart re-assigns it "
        "(Faust can leave a partition unfetched after a rebalance: faust-streaming issue 629; streams/stall.py).",
    )
    broker_check_interval_s: float = Field(
        2.0, gt=0, description="How often the worker checks that the broker still has riskstream's topics (with their "
        "partition counts) and the same cluster id; if not (a restarted embedded broker keeps nothing), it stops at "
        "once with exit status 3 and says what to do.",
    )
    log_level: str = "info"
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "asyncio", description="The worker's event loop: asyncio's own, or uvloop (a dependency except on Windows; "
        "where it is not installed the worker says so and runs on asyncio's). asyncio is the default because the "
        "integration suite has run on it; on uvloop 8 of its 17 files have (docs/scaling.md).",
    )

    @field_validator("online_estimator")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        if value not in ESTIMATOR_NAMES:
            raise ValueError(f"unknown online estimator {value!r}; choose one of: {', '.join(ESTIMATOR_NAMES)}")
        return value


class MetricsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535, description="Prometheus endpoint port; 0 disables it.")
    max_zone_labels: int = Field(
        1000, ge=1, description="Most zones with their own `zone` label, first come among the zones with weather on "
        "telemetry.weather; riders in any other zone are counted under zone=\"other\".",
    )


class PrivacySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hmac_key: SecretStr = Field(
        SecretStr("riskstream-demo-key-change-me"),
        description="Key of the rider pseudonym on the insurer topic (HMAC-SHA256). At least 16 bytes; outside the "
        "embedded profile at least 32 bytes and not a shipped default or placeholder, or the worker refuses to start.",
    )

    @field_validator("hmac_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # every pseudonym would fail later (alerts.pseudonym); refuse at start instead
        n = len(value.get_secret_value().encode())
        if n < MIN_KEY_BYTES:
            raise ValueError(f"the pseudonym key has {n} bytes, at least {MIN_KEY_BYTES} are needed; make one with "
                             f"`{_MAKE_ONE}`")
        return value


class PushSettings(BaseModel):
    """The push gateway (``riskstream push``): ``rider.alerts`` → the push provider's HTTP webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_url: str = Field("http://127.0.0.1:8088/push", description="The push provider's webhook (http or https).")
    webhook_secret: SecretStr = Field(
        SecretStr("riskstream-demo-webhook-secret-change-me"),
        description="Key of the X-Riskstream-Signature HMAC-SHA256 header; shared with the push provider. Outside "
        "the embedded profile at least 32 bytes and not a shipped default or placeholder, or the gateway refuses "
        "to start.",
    )
    timeout_s: float = Field(5.0, gt=0, description="Per-attempt HTTP timeout (connect + answer).")
    max_attempts: int = Field(8, ge=1, description="Attempts per alert before it is dead-lettered.")
    backoff_base_s: float = Field(0.5, gt=0, description="Retry n waits uniform(0, min(cap, base * 2**n)).")
    backoff_cap_s: float = Field(30.0, gt=0, description="Upper bound of one backoff wait.")
    retry_after_cap_s: float = Field(300.0, ge=0, description="Longest Retry-After the gateway honours.")
    concurrency: int = Field(8, ge=1, description="HTTP requests in flight at once, across partitions.")
    group_id: str = Field("riskstream-push", description="Consumer group of the push gateway.")
    commit_interval_s: float = Field(0.5, gt=0, description="How often delivered offsets are committed.")
    shutdown_grace_s: float = Field(10.0, ge=0, description="On stop, time given to deliveries in progress.")
    metrics_port: int = Field(9465, ge=0, le=65535, description="Prometheus port of the push gateway; 0 disables it.")

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("RISKSTREAM_PUSH__WEBHOOK_URL must start with http:// or https://")
        return value


class ConsoleSettings(BaseModel):
    """The safety team's web console (``riskstream console``), fed from the output topics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(
        "127.0.0.1", description="Listen address. Without a token the console listens on 127.0.0.1 whatever this says."
    )
    port: int = Field(8090, ge=0, le=65535, description="Listen port of the console.")
    token: SecretStr | None = Field(
        None, description="Access token: with one, every request needs it (the page once as ?token=..., which sets a "
        "cookie; API clients as 'Authorization: Bearer ...'). Without one the console listens on loopback only.",
    )
    backlog_records: int = Field(
        20_000, ge=0, description="At start, records read back per partition of each topic the console shows "
        "(the rest of a topic's history is not loaded).",
    )
    online_window_s: float = Field(
        300.0, gt=0, description="A rider counts as online in a zone while the rider's last trip record (not "
        "offline) is at most this many event-time seconds older than the newest record seen.",
    )
    feed_size: int = Field(200, ge=1, description="Alerts and escalations kept in the live feed.")
    rider_history_h: float = Field(
        6.0, gt=0, description="Hours of stream time of decisions shown on a rider page (at most decisions_per_rider); "
        "riders not heard of for this long, and questions closed this long ago, are dropped from memory."
    )
    decisions_per_rider: int = Field(
        500, ge=1, description="Newest audit records kept in memory per rider for the rider page.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, frozen=True, extra="forbid"
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    worker: WorkerSettings = WorkerSettings()
    metrics: MetricsSettings = MetricsSettings()
    privacy: PrivacySettings = PrivacySettings()
    features: FeatureConfig = FeatureConfig()
    alerts: AlertConfig = AlertConfig()
    premium: PremiumConfig = PremiumConfig()
    push: PushSettings = PushSettings()
    console: ConsoleSettings = ConsoleSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _KnownVariablesOnly(settings_cls), dotenv_settings, file_secret_settings

    def public_dump(self) -> dict[str, Any]:
        """Effective settings as JSON-safe data, secrets hidden (also credentials inside URLs)."""
        data = json.loads(self.model_dump_json())
        data["push"]["webhook_url"] = redact_url(data["push"]["webhook_url"])
        data["kafka"]["broker"] = redact_url(data["kafka"]["broker"])
        return data

    def check_secrets(self, *paths: str) -> None:
        """Refuse shipped, placeholder or short secrets outside the embedded profile.

        ``paths`` name the secrets the caller uses (``privacy.hmac_key``, ``push.webhook_secret``).
        Raises :class:`ConfigError` naming each bad variable and how to make a good value.
        """
        if self.kafka.embedded:
            return  # the demo on one machine: the shipped keys protect nothing there
        problems = []
        for path in paths:
            section, name = path.split(".")
            value = getattr(getattr(self, section), name).get_secret_value()
            var = f"RISKSTREAM_{section.upper()}__{name.upper()}"
            if value in SHIPPED_SECRETS:
                problems.append(f"{var} is the demo key shipped with riskstream (public in its repository)")
            elif placeholder := _PLACEHOLDER.search(value):
                problems.append(f"{var} is a placeholder (it contains {placeholder.group()!r}), not a key")
            elif len(value.encode()) < MIN_PRODUCTION_SECRET_BYTES:
                problems.append(f"{var} has {len(value.encode())} bytes; at least {MIN_PRODUCTION_SECRET_BYTES} "
                                f"are needed outside the embedded profile")
        if problems:
            raise ConfigError(
                "; ".join(problems) + f". Set it to a random value, e.g. from `{_MAKE_ONE}`, and keep it "
                "secret (RISKSTREAM_KAFKA__EMBEDDED=false is the production profile, which refuses demo secrets)"
            )


class _KnownVariablesOnly(EnvSettingsSource):
    """The environment, refusing a ``RISKSTREAM_*`` variable that names no setting (a typo is not ignored)."""

    def __call__(self) -> dict[str, Any]:
        if problems := unknown_variables(self.env_vars):
            raise ConfigError(problems[0] if len(problems) == 1 else
                              f"{len(problems)} unknown settings:\n  " + "\n  ".join(problems))
        return super().__call__()


def unknown_variables(names: Iterable[str]) -> list[str]:
    """One message per ``RISKSTREAM_*`` name that is no setting, naming the nearest valid variable.

    Names are matched without regard to case, as the settings read them; a section may be set
    whole as JSON (``RISKSTREAM_ALERTS='{"cooldown_s": 600}'``).

    >>> unknown_variables(["RISKSTREAM_ALERTS__COOLDOWN_TYPO", "RISKSTREAM_KAFKA__BROKER", "PATH"])
    ['RISKSTREAM_ALERTS__COOLDOWN_TYPO is not a setting; did you mean RISKSTREAM_ALERTS__COOLDOWN_S?']
    >>> for problem in unknown_variables(["riskstream_worker__batchsize", "RISKSTREAM_ALERT__COOLDOWN_S",
    ...                                   "RISKSTREAM_ALERTS_COOLDOWN_S", "RISKSTREAM_KAFKA__BROKER__HOST",
    ...                                   "RISKSTREAM_PREMIUM", "RISKSTREAM_ZZZ"]):
    ...     print(problem)  # doctest: +ELLIPSIS
    RISKSTREAM_WORKER__BATCHSIZE is not a setting; did you mean RISKSTREAM_WORKER__BATCH_SIZE?
    RISKSTREAM_ALERT__COOLDOWN_S is not a setting; did you mean RISKSTREAM_ALERTS__COOLDOWN_S?
    RISKSTREAM_ALERTS_COOLDOWN_S is not a setting; did you mean RISKSTREAM_ALERTS__COOLDOWN_S?
    RISKSTREAM_KAFKA__BROKER__HOST is not a setting; did you mean RISKSTREAM_KAFKA__BROKER?
    RISKSTREAM_ZZZ is not a setting; settings are RISKSTREAM_<SECTION>__<NAME>, SECTION one of kafka, ...
    """
    problems = []
    for name in names:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        keys = tuple(name[len(ENV_PREFIX):].lower().split(ENV_DELIMITER))
        if _walk(Settings, keys, fix=False) == keys:
            continue
        nearest = _walk(Settings, keys, fix=True) or _nearest_anywhere(ENV_DELIMITER.join(keys))
        hint = (f"did you mean {_variable(nearest)}?" if nearest else f"settings are {ENV_PREFIX}<SECTION>"
                f"{ENV_DELIMITER}<NAME>, SECTION one of {', '.join(Settings.model_fields)}")
        problems.append(f"{name.upper()} is not a setting; {hint}")
    return problems


def _walk(model: type[BaseModel], keys: tuple[str, ...], fix: bool) -> tuple[str, ...] | None:
    """The path of ``keys`` through the settings tree, each unknown key replaced by its nearest sibling if ``fix``.

    Keys past a plain value are dropped (the value's own variable is the nearest); ``None`` if a key has no match.
    """
    path: list[str] = []
    here: type[BaseModel] | None = model
    for key in keys:
        if here is None:  # a plain value has no keys below it
            break
        fields = here.model_fields
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1) if fix else []
            if not close:
                return None
            key = close[0]
        path.append(key)
        here = _section(fields[key].annotation)
    return tuple(path)


def _section(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _field(path: tuple[str, ...]) -> Any:
    """The field at a valid, non-empty ``path`` of the settings tree."""
    *above, last = path
    here: Any = Settings
    for key in above:
        here = here.model_fields[key].annotation
    return here.model_fields[last]


def _nearest_anywhere(key: str) -> tuple[str, ...] | None:
    """The valid variable closest to ``key`` as a whole (a wrong delimiter, a missing section)."""
    every = {ENV_DELIMITER.join(path): path for path in _paths(Settings)}
    close = difflib.get_close_matches(key, every, n=1)
    return every[close[0]] if close else None


def _paths(model: type[BaseModel], above: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        yield above + (name,)
        if section := _section(field.annotation):
            yield from _paths(section, above + (name,))


def _variable(path: Sequence[str]) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(key.upper() for key in path)


def is_config_error(exc: ValidationError) -> bool:
    """Whether ``exc`` is about the settings (not a record or another model)."""
    return exc.title in _SECTION_OF


def config_error(exc: ValidationError) -> ConfigError:
    """A :class:`ConfigError` naming the environment variable of each error in ``exc``, secrets never echoed.

    ``exc`` comes from :class:`Settings` or one of its sections (``AlertConfig(...)``).

    >>> try:
    ...     Settings.model_validate({"metrics": {"port": "x"}, "alerts": {"cooldown_typo": 5}})
    ... except ValidationError as exc:
    ...     print(config_error(exc))
    invalid configuration:
      RISKSTREAM_METRICS__PORT: Input should be a valid integer, unable to parse string as an integer (got 'x')
      RISKSTREAM_ALERTS__COOLDOWN_TYPO is not a setting; did you mean RISKSTREAM_ALERTS__COOLDOWN_S?
    fix the environment variable(s) above; `riskstream config` prints the effective settings
    """
    above = _SECTION_OF.get(exc.title, ())
    lines = []
    for err in exc.errors():
        loc = above + tuple(str(key) for key in err["loc"])
        if err["type"] == "extra_forbidden":  # a key inside a section given as JSON (variables are checked before)
            nearest = _walk(Settings, tuple(key.lower() for key in loc), fix=True)
            hint = f"; did you mean {_variable(nearest)}?" if nearest else ""
            lines.append(f"  {_variable(loc)} is not a setting{hint}")
            continue
        whole = bool(loc) and _walk(Settings, loc, fix=False) == loc and _section(_field(loc).annotation) is not None
        line = f"  {_variable(loc)}{ENV_DELIMITER + '*' if whole else ''}: {err['msg'].removeprefix('Value error, ')}"
        if not isinstance(err.get("input"), dict):  # a whole section's input would list every value given
            got = err.get("input")
            if any(word in _variable(loc) for word in ("KEY", "SECRET", "PASSWORD")):
                got = "<hidden>"  # a secret, even a wrong one, is never echoed
            elif isinstance(got, str):
                got = redact_url(got)
            line += f" (got {got!r})"
        lines.append(line)
    return ConfigError("invalid configuration:\n" + "\n".join(lines) + "\nfix the environment variable(s) above; "
                       "`riskstream config` prints the effective settings")


def redact_url(url: str) -> str:
    """``url`` with the password of its userinfo (or a lone token) and credential-like query values as ``***``.

    >>> redact_url("https://user:pa55@push.example/hook?x=1")
    'https://user:***@push.example/hook?x=1'
    >>> redact_url("https://tok3n@push.example/hook"), redact_url("http://127.0.0.1:8088/push")
    ('https://***@push.example/hook', 'http://127.0.0.1:8088/push')
    >>> redact_url("https://push.example/hook?app=7&access_token=abc&apiKey=def")
    'https://push.example/hook?app=7&access_token=***&apiKey=***'
    >>> redact_url("https://u:p@push.example?sig=1#x")
    'https://u:***@push.example?sig=***#x'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], _SECRET_QUERY.sub(r"\1***", rest[end:])
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        authority = (f"{user}:***" if colon else "***") + "@" + host
    return f"{scheme}://{authority}{tail}"


#: A query parameter whose name says it carries a credential (token, key, secret, password, signature, auth).
_SECRET_QUERY = re.compile(r"([?&][^=&#]*(?:token|key|secret|pass|sig|auth)[^=&#]*=)[^&#]*", re.IGNORECASE)


#: The settings model (by name, as ValidationError.title gives it) -> the path of its variables.
_SECTION_OF: dict[str, tuple[str, ...]] = {
    "Settings": (),
    **{section.__name__: (name,) for name, field in Settings.model_fields.items()
       if (section := _section(field.annotation))},
}
