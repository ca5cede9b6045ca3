"""Reconcile a recorded input with what the workers' state absorbed, from the topics alone.

For every rider-keyed input topic (wearable, trip, incidents, responses)::

    input records = applied + duplicates + too late + dead-lettered

read with an independent consumer (no group, every partition from the beginning), not from
per-process counters, which a crash resets:

- the input topics: records and distinct event ids per rider and topic;
- the dead-letter topic: which input records (source topic, partition, offset) were dead-lettered;
- the ``<app_id>-rider-state-changelog`` topic: the latest state of each rider, whose ``records``
  counters (:class:`streams.batch.RiderSlot`) say how many records of each topic that state has
  absorbed, by outcome; and, along the changelog, any counter that went down (a state written from
  a stale copy: the records in between were applied and then lost).

Exactly-once shows as: per rider and topic, applied + duplicate + too_late + held = its records that
were not dead-lettered (``held``: a record far ahead of its stream, kept in the rider's state until a next
record confirms it; it is then applied, or dead-lettered as ``unconfirmed_jump``), applied ≤ its distinct event ids, and no counter ever decreases. A too-late record that is
also dead-lettered (``error_class`` ``too_late``) is counted once, by the state. Run it when the workers are
caught up (consumer lag 0): records still in flight show as missing. A record read again after a restart
(its offset was not committed, but the rider's state had absorbed it) is recognised by its offset and
counted as ``replayed``, outside the sum: it is not another input record.

>>> c = RiderCount(records=5, distinct=4, applied=4, duplicate=1)
>>> c.missing, c.applied_twice
(0, 0)
>>> RiderCount(records=5, distinct=5, applied=3).missing
2
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import consumer_kwargs
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Input topics whose records land in rider state, by role.
RIDER_ROLES = ("wearable", "trip", "incidents", "responses")
OUTCOMES = ("applied", "duplicate", "too_late")


def changelog_topic(app_id: str) -> str:
    """Faust's changelog topic of the ``rider-state`` table."""
    return f"{app_id}-rider-state-changelog"


@dataclass
class RiderCount:
    """One rider's records of one topic, and what its latest state says it absorbed."""

    records: int = 0  # input records not dead-lettered
    distinct: int = 0  # distinct event ids among them
    dead_lettered: int = 0
    applied: int = 0
    duplicate: int = 0
    too_late: int = 0
    held: int = 0  # in the rider's state, waiting for a record to confirm its jump ahead
    replayed: int = 0  # read again after a restart and recognised by offset: not an input record of its own

    @property
    def missing(self) -> int:
        """Records no state absorbed (> 0: lost), or absorbed more than once (< 0)."""
        return self.records - self.applied - self.duplicate - self.too_late - self.held

    @property
    def applied_twice(self) -> int:
        """Applications beyond one per distinct event id (a repeat that was not recognised)."""
        return max(0, self.applied - self.distinct)


@dataclass
class Regression:
    rider_id: str
    partition: int
    offset: int
    role: str
    outcome: str
    before: int
    after: int


@dataclass
class Report:
    topics: dict[str, dict[str, int]] = field(default_factory=dict)  # topic -> totals
    riders: dict[str, dict[str, RiderCount]] = field(default_factory=dict)  # topic -> rider -> counts
    regressions: list[Regression] = field(default_factory=list)
    dead_letters_repeated: int = 0  # the same input record dead-lettered more than once (a replay)

    def problems(self) -> Iterator[tuple[str, str, RiderCount]]:
        """(topic, rider, counts) of every rider whose counts do not add up."""
        for topic, riders in self.riders.items():
            for rider_id, count in sorted(riders.items()):
                if count.missing or count.applied_twice:
                    yield topic, rider_id, count

    @property
    def ok(self) -> bool:
        return not self.regressions and next(self.problems(), None) is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "topics": self.topics,
            "problems": [{"topic": t, "rider_id": r, **asdict(c), "missing": c.missing,
                          "applied_twice": c.applied_twice} for t, r, c in self.problems()],
            "regressions": [asdict(r) for r in self.regressions],
            "dead_letters_repeated": self.dead_letters_repeated,
        }

    def render(self, limit: int = 40) -> str:
        head = (f"{'topic':<32} {'input':>8} {'applied':>8} {'duplicate':>9} {'too_late':>8} {'held':>5} "
                f"{'dead_letter':>11} {'difference':>10} {'(replayed)':>10}")
        lines = [head]
        for topic, t in self.topics.items():
            lines.append(f"{topic:<32} {t['input']:>8} {t['applied']:>8} {t['duplicate']:>9} {t['too_late']:>8} "
                         f"{t['held']:>5} {t['dead_lettered']:>11} {t['difference']:>10} {t['replayed']:>10}")
        problems = list(self.problems())
        for topic, rider_id, c in problems[:limit]:
            what = []
            if c.missing > 0:
                what.append(f"{c.missing} record(s) absorbed by no state")
            elif c.missing < 0:
                what.append(f"{-c.missing} record(s) counted more than once")
            if c.applied_twice:
                what.append(f"{c.applied_twice} event id(s) applied twice")
            lines.append(f"  {topic} rider {rider_id}: {', '.join(what)} (records {c.records}, distinct {c.distinct}, "
                         f"applied {c.applied}, duplicate {c.duplicate}, too_late {c.too_late}, held {c.held})")
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more riders (see --json)")
        for r in self.regressions[:limit]:
            lines.append(f"  regression: rider {r.rider_id} {r.role}.{r.outcome} went {r.before} -> {r.after} at "
                         f"changelog partition {r.partition} offset {r.offset}")
        if len(self.regressions) > limit:
            lines.append(f"  ... and {len(self.regressions) - limit} more regressions (see --json)")
        if self.dead_letters_repeated:
            lines.append(f"  {self.dead_letters_repeated} input record(s) dead-lettered more than once "
                         "(replayed after a crash; each counted once)")
        lines.append("reconciled: every input record is applied, a duplicate, too late or dead-lettered" if self.ok
                     else "NOT reconciled: see the differences above")
        return "\n".join(lines)


async def read_all(settings: Settings, topic: str, timeout: float) -> list[Any]:
    """Every record of ``topic`` up to its end offsets at the start, from every partition; no consumer group."""
    consumer = AIOKafkaConsumer(**consumer_kwargs(settings.kafka), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end offsets within {timeout:.0f} s "
                                   f"(partitions left: {sorted(tp.partition for tp in pending)})")
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, messages in batches.items():
                out.extend(m for m in messages if m.offset < ends[tp])
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return out
    finally:
        await consumer.stop()


def _json(raw: bytes | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None


def build_report(inputs: dict[str, list[Any]], dead_letters: list[Any], changelog: list[Any],
                 role_of: dict[str, str]) -> Report:
    """The reconciliation of records already read (``inputs``: topic -> records; aiokafka-like messages)."""
    report = Report()
    lettered: dict[tuple[str, int, int], str] = {}
    for msg in dead_letters:
        letter = _json(msg.value) or {}
        where = (letter.get("source_topic"), letter.get("partition"), letter.get("offset"))
        if where in lettered:
            report.dead_letters_repeated += 1
        lettered[where] = letter.get("error_class", "")  # type: ignore[index]

    latest: dict[str, dict[str, Any]] = {}
    held: dict[str, set[str]] = {}  # rider -> roles with a record held in its latest state
    expired: dict[str, dict[str, Counter[str]]] = {}  # rider -> role -> what states deleted since had absorbed
    for msg in sorted(changelog, key=lambda m: (m.partition, m.offset)):
        rider_id = msg.key.decode("utf-8", "replace") if msg.key else ""
        state = _json(msg.value)
        if state is None:  # a tombstone: the rider expired; what its state absorbed stays counted
            for role, outcomes in latest.pop(rider_id, {}).items():
                expired.setdefault(rider_id, {}).setdefault(role, Counter()).update(outcomes)
            held.pop(rider_id, None)
            continue
        held[rider_id] = set(state.get("held") or ())
        counters = state.get("records") or {}
        before = latest.get(rider_id, {})
        for role, outcomes in before.items():
            for outcome, n in outcomes.items():
                now = (counters.get(role) or {}).get(outcome, 0)
                if now < n:
                    report.regressions.append(Regression(rider_id, msg.partition, msg.offset, role, outcome, n, now))
        latest[rider_id] = counters

    for topic, records in inputs.items():
        role = role_of[topic]
        riders: dict[str, RiderCount] = {}
        ids: dict[str, set[str]] = {}
        totals = dict.fromkeys(("input", "applied", "duplicate", "too_late", "held", "dead_lettered", "difference",
                                "replayed"), 0)
        for msg in records:
            totals["input"] += 1
            value = _json(msg.value)
            rider_id = value.get("rider_id") if isinstance(value, dict) else None
            if not isinstance(rider_id, str):
                rider_id = msg.key.decode("utf-8", "replace") if msg.key else ""
            count = riders.setdefault(rider_id, RiderCount())
            error_class = lettered.get((topic, msg.partition, msg.offset))
            if error_class is not None and error_class != "too_late":
                count.dead_lettered += 1
                totals["dead_lettered"] += 1
                continue
            count.records += 1
            event_id = value.get("event_id") if isinstance(value, dict) else None
            ids.setdefault(rider_id, set()).add(str(event_id) if event_id is not None else f"@{msg.partition}:{msg.offset}")
        for rider_id in {*latest, *expired}:
            if role in latest.get(rider_id, {}) or role in expired.get(rider_id, {}):
                riders.setdefault(rider_id, RiderCount())
        for rider_id, count in riders.items():
            count.distinct = len(ids.get(rider_id, ()))
            absorbed = Counter(latest.get(rider_id, {}).get(role) or {})
            absorbed.update(expired.get(rider_id, {}).get(role, {}))  # its states before it expired
            count.applied, count.duplicate, count.too_late = (absorbed.get(o, 0) for o in OUTCOMES)
            count.replayed = absorbed.get("replayed", 0)
            count.held = int(role in held.get(rider_id, ()))
            for outcome in (*OUTCOMES, "held", "replayed"):
                totals[outcome] += getattr(count, outcome)
        totals["difference"] = totals["input"] - sum(totals[k] for k in (*OUTCOMES, "held", "dead_lettered"))
        report.topics[topic] = totals
        report.riders[topic] = riders
    return report


async def reconcile(settings: Settings, *, timeout: float = 120.0) -> Report:
    """Read the input, dead-letter and changelog topics of ``settings`` and reconcile them."""
    topics = settings.topics.by_role()
    role_of = {topics[role]: role for role in RIDER_ROLES}
    inputs = {topic: await read_all(settings, topic, timeout) for topic in role_of}
    dead_letters = await read_all(settings, settings.topics.dlq, timeout)
    changelog = await read_all(settings, changelog_topic(settings.worker.app_id), timeout)
    return build_report(inputs, dead_letters, changelog, role_of)


def run(settings: Settings, json_path: str | None = None, timeout: float = 120.0) -> int:
    """The ``riskstream reconcile`` command: print the report, write ``--json``; 0 if it reconciles, 1 if not."""
    report = asyncio.run(reconcile(settings, timeout=timeout))
    print(report.render())
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2)
    return 0 if report.ok else 1
