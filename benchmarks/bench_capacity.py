"""How many riders one worker carries: a simulated fleet replayed in real time at rising rider counts.

For each rider count, a fresh worker reads fresh topics on the embedded broker while a producer sends
every rider's 1 Hz wearable and 1 Hz trip records, and every zone's weather, at their event time
(one wall second per event-time second), in envelopes of ``--envelope`` records (1: one record per
message; an envelope is sent when its newest record is due). Measured over the second half of each
level's window (the first half lets the worker start and catch up):

- the input rate of the measured half (every rider online: about 2 readings per rider-second) and the
  sustained throughput: readings consumed per second (the worker's Prometheus counter);
- consumer lag: records not yet committed (``riskstream_consumer_lag_records``, rider topics), at the end;
- event → alert and event → insurer-record latency, p50 and p99, two ways:

  - **worker latency** (what the worker adds): an output's Kafka timestamp minus the wall time the message
    it was decided at was sent: the message carrying the reading at the output's event time (the first such
    message, when the rider's wearable and trip streams both carry one), or the weather message of the rider's
    zone sent after it, when the zone's weather changed and the worker scored its riders again. It is what
    ``p99_s`` and "sustained" use;
  - **device-inclusive latency**: an output's Kafka timestamp minus the wall time its event time (``ts``) was
    due in the replay, so a reading's wait on the device for its envelope counts (up to ``--envelope`` - 1
    seconds: with envelopes of 10 no worker can bring its p99 under 1 s). Reported beside it, not judged;
- the worker's CPU (user + system seconds per wall second over the measured half, and per rider-second), its
  RSS, and the bytes per second written to its ``rider-state`` changelog (keys + values), with
  the writes per rider-second and their mean value size (bytes = writes × size, a check on the reading),
  and the input messages per rider-second (a changed rider's state is written once per batch it has records
  in; a rider's wearable and trip envelopes are sent together, so the floor of the writes per rider-second,
  while states are written per batch, is one per envelope period);
- the bytes per rider-second the worker writes to each output topic (alerts, insurer records, audit records,
  escalations, dead letters; keys + values).

A level is sustained when the lag at its end is under ``--lag-s`` seconds of input, the worker consumed at
least 90 % of the input rate, and the worker latency's p99 of both outputs is at most 1 s; the report names
the largest sustained level (``riders_per_worker``, with its ``p99_s`` and ``changelog_bytes_per_rider_s``).

The raw Faust ceiling: after each round, a no-op Faust agent (``benchmarks/noop_app.py``, as ``bench_pipeline``
runs it) reads the records of the round's largest level again from its topics; the report gives its readings per
second (the median over the rounds) and what the largest sustained level consumed as a share of it.

The fleet: the simulator puts only some of its riders on shift, and logs them in over its first ~10
minutes; the riders on shift through a window that starts 10 simulated minutes after a noon are cloned
(renamed riders and event ids) up to each level's count; a clone's rider id must match the contract
(``RiderId``), or every record of it is dead-lettered and the level measures fewer riders.
The riders come online one after another over the window's first half, so in the measured half every rider is
online and scored once per ``worker.score_every_event_s`` (60 s) at a phase of its own, as riders of a city are;
a level therefore lasts at least twice that (``--seconds`` 120), or its measured half would hold no score.

    python -m benchmarks.bench_capacity                  # 250, 500, 1000, 2000 riders, 120 s each
    python -m benchmarks.bench_capacity --quick --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerts.pseudonym import pseudonymize
from benchmarks.bench_pipeline import _run_noop
from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.simulation.envelopes import Envelope, envelopes
from riskstream.testing.workers import free_port, metric_value, scrape, start_worker, wait_until
from streams.broker import EmbeddedBroker
from streams.kafka import consumer_kwargs, producer_kwargs
from streams.settings import Settings
from streams.topics import ensure_topics

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq")
NOON = datetime(2026, 7, 15, 4, 0, tzinfo=timezone.utc)  # 12:00 local: the simulator's busiest riders on shift
P99_LIMIT_S = 1.0
#: The worker's output topics whose bytes per rider-second are measured (keys + values).
OUTPUTS = ("alerts", "risk_scores", "audit", "escalations", "dlq")
#: Simulated seconds before the measured window: the simulator logs its riders in over its first ~10 minutes.
WARMUP_S = 600.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--riders", type=int, nargs="+", default=[250, 500, 1000, 2000],
                        help="rider counts to try, rising (default 250 500 1000 2000)")
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="wall seconds per level, at least twice the worker's score_every_event_s (default 120)")
    parser.add_argument("--envelope", type=int, default=1,
                        help="records per message (default 1: each reading sent as it happens)")
    parser.add_argument("--lag-s", type=float, default=5.0,
                        help="bounded lag: at most this many seconds of input uncommitted at the end (default 5); "
                        "a level is sustained with bounded lag and a worker-latency p99 <= 1 s (output's Kafka "
                        "timestamp minus the send time of the message carrying its reading); the latency from the "
                        "reading's event time, which counts its wait on the device for the envelope, is printed "
                        "beside it and not judged")
    parser.add_argument("--batch-within-s", type=float, default=0.5,
                        help="the worker's worker.batch_within_s, the longest wait to fill a batch: it bounds the "
                        "latency from below (default 0.5; the setting's default is 1.0)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every level, rising and falling in turn, none skipped (default 1: rising, "
                        "stopping at the first level not sustained); a level is sustained when most of its rounds "
                        "are, and its figures are the medians of its rounds, with their min and max")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="CI-sized: 100 and 300 riders, 120 s each")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.riders, args.seconds = [100, 300], 120.0
    score_every = Settings().worker.score_every_event_s
    if args.seconds < 2 * score_every:
        parser.error(f"--seconds {args.seconds:g} is less than twice the worker's score_every_event_s ({score_every:g} s):"
                     f" the measured half would hold no score; use --seconds {2 * score_every:g} or more")
    tmp = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    runs: list[dict[str, Any]] = []
    ceiling: list[float] = []
    with EmbeddedBroker("127.0.0.1", free_port(), log_path=tmp / "tansu.log") as broker:
        for rnd in range(args.repeat):
            done: list[dict[str, Any]] = []
            for riders in sorted(args.riders, reverse=rnd % 2 == 1):
                level = run_level(broker, riders, args, tmp)
                done.append(level)
                print_level(level)
                if args.repeat == 1 and not level["sustained"]:
                    break
            runs.extend(done)
            # the raw Faust ceiling on the same records: a no-op agent reads the largest level's topics again
            top = max(done, key=lambda lv: lv["riders"])
            n, secs = _run_noop(broker, top["topics"], top["records_sent"], tmp)
            ceiling.append(n / secs)
            print(f"  no-op Faust agent on the {top['riders']}-rider level's records: {n:,} readings in {secs:.2f} s = "
                  f"{n / secs:,.0f} readings/s", flush=True)
    levels = [combine([r for r in runs if r["riders"] == n]) for n in sorted({r["riders"] for r in runs})]
    if args.repeat > 1:
        print(f"\nmedians of {args.repeat} rounds [min, max]:")
        for lv in levels:
            print(f"{lv['riders']:>6} riders: worker p99 {lv['p99_s']:.2f} s {spread(lv, 'p99_s')}, device-inclusive "
                  f"p99 {lv['p99_device_s']:.2f} s, lag {lv['lag_end']:,.0f} {spread(lv, 'lag_end', ',.0f')}, RSS "
                  f"{lv['rss_bytes'] / 2**20:,.0f} MiB, changelog {lv['changelog_bytes_per_rider_s']:,.0f} B per "
                  f"rider-second {spread(lv, 'changelog_bytes_per_rider_s', ',.0f')}; sustained in "
                  f"{lv['sustained_rounds']} of {lv['rounds']}", flush=True)
    best = max((lv for lv in levels if lv["sustained"]), key=lambda lv: lv["riders"], default=None)
    report = {
        "riders_per_worker": best["riders"] if best else 0,
        "p99_s": best["p99_s"] if best else None,  # the worker latency's p99 (module docstring)
        "p99_device_s": best["p99_device_s"] if best else None,
        "changelog_bytes_per_rider_s": best["changelog_bytes_per_rider_s"] if best else None,
        "latency": "p99_s: output's Kafka timestamp - send time of the message carrying its reading (worker); "
                   "p99_device_s: output's Kafka timestamp - the wall time its event time was due (device-inclusive)",
        "envelope_size": args.envelope, "seconds_per_level": args.seconds, "batch_within_s": args.batch_within_s,
        "repeat": args.repeat, "levels": levels, "runs": runs,
        "noop_records_per_s": statistics.median(ceiling), "noop_runs_records_per_s": ceiling,
        # what the largest sustained level consumed, as a share of what a no-op agent reads on the same layout
        "ceiling_ratio": best["consumed_per_s"] / statistics.median(ceiling) if best else None,
    }
    print(f"\nlargest fleet one worker sustains (lag < {args.lag_s:g} s of input, worker p99 ≤ {P99_LIMIT_S:g} s): "
          f"{report['riders_per_worker']} riders"
          + (f" (worker p99 {report['p99_s']:.2f} s, device-inclusive p99 {report['p99_device_s']:.2f} s, changelog "
             f"{report['changelog_bytes_per_rider_s']:,.0f} B per rider-second; target ≤ 200 B)"
             if best else "; not even the smallest level"))
    print(f"raw Faust ceiling (no-op agent, same records, median of {len(ceiling)}): "
          f"{report['noop_records_per_s']:,.0f} readings/s"
          + (f"; the largest sustained level consumed {report['ceiling_ratio']:.3f} of it" if best else ""))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One level from its rounds: the median of each number, its [min, max] under ``spread``; sustained when
    most rounds were.

    >>> lv = combine([{"riders": 5, "p99_s": x, "sustained": x <= 1.0, "alert_latency_s": {"p99": x}}
    ...               for x in (0.5, 1.2, 0.75)])
    >>> lv["p99_s"], lv["spread"]["p99_s"], lv["sustained"], lv["sustained_rounds"], lv["alert_latency_s"]
    (0.75, [0.5, 1.2], True, 2, {'p99': 0.75})
    """
    if len(rounds) == 1:
        return {**rounds[0], "rounds": 1, "sustained_rounds": int(rounds[0]["sustained"]), "spread": {}}

    def median(values: list[Any]) -> Any:
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        return statistics.median(numbers) if len(numbers) == len(values) else values[0]

    out: dict[str, Any] = {}
    spreads: dict[str, list[float]] = {}
    for key, first in rounds[0].items():
        values = [r[key] for r in rounds]
        if isinstance(first, dict):
            out[key] = {k: median([v[k] for v in values]) for k in first}
        else:
            out[key] = median(values)
            if isinstance(out[key], float) and key != "riders":
                spreads[key] = [min(values), max(values)]
    sustained_rounds = sum(1 for r in rounds if r["sustained"])
    out.update(sustained=2 * sustained_rounds > len(rounds), sustained_rounds=sustained_rounds, rounds=len(rounds),
               spread=spreads)
    return out


def spread(level: dict[str, Any], key: str, fmt: str = ".2f") -> str:
    lo_hi = level["spread"].get(key)
    return f"[{lo_hi[0]:{fmt}}, {lo_hi[1]:{fmt}}]" if lo_hi else ""


def fleet(riders: int, seconds: float, seed: int, warmup_s: float = WARMUP_S) -> list[Any]:
    """``riders`` riders' records over ``seconds`` of event time, in event-time order (see the module docstring).

    The simulator starts with every rider logged out and logs them in over its first minutes, so the window
    starts ``warmup_s`` after it; only riders sending trip records in at least 90 % of the window's seconds are
    kept (and cloned), so a level's riders send about a wearable and a trip record per second. Rider k of n
    starts k/n of the first half into the window: in the second half, where the benchmark measures, every rider
    is online and their score points are spread evenly over the scoring interval."""
    sim = FleetSimulator(SimConfig(riders=min(3000, max(500, 2 * riders)), seed=seed, scenario="mixed", start=NOON))
    for _ in sim.records(warmup_s, drain=False):
        pass
    start = (NOON + timedelta(seconds=warmup_s)).timestamp()
    base = [r for r in sim.records(seconds) if r.raw is None and r.role in ("wearable", "trip", "weather")
            and r.value.ts.timestamp() >= start]
    trip_seconds: dict[str, set[int]] = {}
    for r in base:
        if r.role == "trip":
            trip_seconds.setdefault(r.key, set()).add(int(r.value.ts.timestamp()))
    on_shift = sorted(k for k, secs in trip_seconds.items() if len(secs) >= 0.9 * seconds)
    if not on_shift:
        raise SystemExit("no simulated rider on shift through the window: raise the simulated riders or --seed")
    out = [r for r in base if r.role == "weather"]
    checked = False
    for copy in range(math.ceil(riders / len(on_shift))):
        keep = set(on_shift[: riders - copy * len(on_shift)])
        for r in base:
            if r.role != "weather" and r.key in keep:
                rid = f"{r.key}-c{copy}" if copy else r.key  # "-": a rider id allows [A-Za-z0-9_.:-] only
                value = type(r.value).model_construct(**{**r.value.__dict__, "rider_id": rid,
                                                           "event_id": f"{r.value.event_id}~{copy}"})
                if copy and not checked:  # a clone the worker would dead-letter is no rider at all: fail here
                    try:
                        type(value).model_validate(value.model_dump())
                    except ValueError as exc:
                        raise SystemExit(f"cloned record of {rid!r} does not pass its contract, the worker would "
                                         f"dead-letter every such rider; fix the clone naming in fleet(): {exc}") from exc
                    checked = True
                out.append(type(r)(r.role, rid, value))
    # rider k of n comes online k/n of the first half into the window (its score points, every
    # score_every_event_s from its first record, spread evenly instead of all riders scored in the same second)
    names = sorted({r.key for r in out if r.role != "weather"})
    begins = {name: start + k * (seconds / 2) / len(names) for k, name in enumerate(names)}
    out = [r for r in out if r.role == "weather" or r.value.ts.timestamp() >= begins[r.key]]
    out.sort(key=lambda r: r.value.ts)
    return out


def full_envelopes(messages: list[Any], size: int) -> list[Any]:
    """``messages`` without the envelopes of fewer than ``size`` records: those :func:`envelopes` sends when the
    replay ends, every rider's at once. A fleet's devices upload when an envelope is full, each at a phase of its
    own; kept, the last second of a level carried every rider's last envelope in one burst (893 messages in one
    batch at 500 riders, against about 100 a second before it), and the outputs decided on it, inside the measured
    half, set the insurer records' p99 (1.16 s, where every earlier batch's outputs left within 0.72 s).

    >>> from riskstream.simulation.records import SimRecord
    >>> from riskstream.contracts.records import WearableReading
    >>> recs = [WearableReading(event_id=f"e{t}", ts=1_784_080_800 + t, rider_id="r1", accel_peak_g=1.2,
    ...                         accel_mean_g=1.0, accel_var=0.01) for t in range(25)]
    >>> [m.size for m in full_envelopes(list(envelopes([SimRecord("wearable", "r1", r) for r in recs], 10)), 10)]
    [10, 10]
    """
    return [m for m in messages if not isinstance(m, Envelope) or m.size >= size]


def run_level(broker: EmbeddedBroker, riders: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    topics = {role: f"cap{riders}-{tag}.{role}" for role in ROLES}
    settings = Settings.model_validate({"kafka": {"broker": broker.url}, "topics": topics})
    asyncio.run(ensure_topics(settings))
    records = fleet(riders, args.seconds, args.seed)
    messages = full_envelopes(list(envelopes(records, args.envelope)), args.envelope) if args.envelope > 1 else records
    n_readings = sum(len(readings_of(m)) for m in messages)
    port, app_id = free_port(), f"cap-{tag}"
    env = {"RISKSTREAM_KAFKA__BROKER": broker.url, "RISKSTREAM_METRICS__PORT": str(port),
           "RISKSTREAM_WORKER__STATE_DIR": str(tmp / app_id), "RISKSTREAM_WORKER__APP_ID": app_id,
           "RISKSTREAM_WORKER__LOG_LEVEL": "warning", "RISKSTREAM_WORKER__BATCH_WITHIN_S": str(args.batch_within_s)}
    env.update({f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()})
    proc = start_worker(env, tmp / f"{app_id}.log")
    try:
        wait_until(lambda: scrape(port) is not None, 120, 0.2, "the worker's metrics endpoint", procs=(proc,))
        result = asyncio.run(replay(settings, messages, port, topics, f"{app_id}-rider-state-changelog", args,
                                    proc.proc.pid))
        rss = _rss_bytes(proc.proc.pid)
    finally:
        proc.stop()
    device, worker = result["latency"], result["worker_latency"]
    p99s_device = [_pct(x, 99) for x in device.values() if x]
    p99s = [_pct(x, 99) for x in worker.values() if x]
    # the input of the measured (second) half, where every rider is online (fleet())
    mid = _event_time(messages[0]) + args.seconds / 2
    rider_messages = [m for m in messages if m.role != "weather" and _event_time(m) >= mid]
    rate_in = sum(len(readings_of(m)) for m in rider_messages) / (args.seconds / 2)
    lag_limit = args.lag_s * len(messages) / args.seconds
    sustained = (result["lag_end"] <= lag_limit and bool(p99s) and max(p99s) <= P99_LIMIT_S
                 and result["consumed_per_s"] >= 0.9 * rate_in)

    def summary(xs: list[float]) -> dict[str, Any]:
        return {"n": len(xs), "p50": _pct(xs, 50), "p99": _pct(xs, 99)}

    return {
        "riders": riders, "readings": n_readings, "messages": len(messages), "input_per_s": rate_in,
        "topics": topics, "records_sent": n_readings + sum(1 for m in messages if m.role == "weather"),
        "consumed_per_s": result["consumed_per_s"], "lag_end": result["lag_end"], "lag_limit": lag_limit,
        "alert_latency_s": summary(device["alerts"]), "insurer_latency_s": summary(device["risk_scores"]),
        "alert_worker_latency_s": summary(worker["alerts"]), "insurer_worker_latency_s": summary(worker["risk_scores"]),
        "outputs_unmatched": result["unmatched"], "outputs_after_weather": result["after_weather"],
        "p99_s": max(p99s) if p99s else None, "p99_device_s": max(p99s_device) if p99s_device else None,
        "rss_bytes": rss, "messages_per_rider_s": len(rider_messages) / (args.seconds / 2) / riders,
        "worker_cpu_s_per_s": result["cpu_s_per_s"],
        "worker_cpu_us_per_rider_s": result["cpu_s_per_s"] / riders * 1e6,
        "changelog_bytes_per_s": result["changelog_bytes_per_s"],
        "changelog_bytes_per_rider_s": result["changelog_bytes_per_s"] / riders,
        "changelog_writes_per_rider_s": result["changelog_writes_per_s"] / riders,
        "changelog_value_bytes_mean": result["changelog_value_bytes_mean"],
        "output_bytes_per_rider_s": {role: b / riders for role, b in result["output_bytes_per_s"].items()},
        "sustained": sustained,
    }


class _NotYetCreated(logging.Filter):
    """Drops aiokafka's "Topic … not found in cluster metadata" for the changelog until the worker creates it.

    >>> f = _NotYetCreated("cap-1-rider-state-changelog")
    >>> rec = lambda *a: logging.LogRecord("aiokafka.cluster", logging.ERROR, "", 0, *a, None)
    >>> f.filter(rec("Topic %s not found in cluster metadata", ("cap-1-rider-state-changelog",)))
    False
    >>> f.filter(rec("Topic %s not found in cluster metadata", ("other",)))
    True
    """

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg.startswith("Topic %s not found") and record.args == (self.topic,))


async def replay(settings: Settings, messages: list[Any], port: int, topics: dict[str, str], changelog: str,
                 args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """Send ``messages`` at their event time while reading the outputs and the changelog; measure the second half."""
    producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    logging.getLogger("aiokafka.cluster").addFilter(_NotYetCreated(changelog))
    consumer = AIOKafkaConsumer(*(topics[r] for r in OUTPUTS), changelog, auto_offset_reset="earliest",
                                group_id=None, metadata_max_age_ms=1000,  # the changelog appears once the worker runs
                                **consumer_kwargs(settings.kafka))
    await producer.start()
    await consumer.start()
    ev0 = _event_time(messages[0])
    t0 = time.time()
    half = t0 + args.seconds / 2
    latency: dict[str, list[float]] = {"alerts": [], "risk_scores": []}
    outputs: list[tuple[str, str, float, float]] = []  # (role, rider id or pseudonym, event time, Kafka timestamp)
    sent_at: list[float] = []  # wall time each message was handed to the producer, in the order of ``messages``
    changelog_bytes = changelog_writes = changelog_values = 0
    output_bytes: dict[str, int] = {}  # output topic → keys + values in the measured half
    stop = asyncio.Event()

    async def read_outputs() -> None:
        nonlocal changelog_bytes, changelog_writes, changelog_values
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for tp, recs in batch.items():
                for rec in recs:
                    at = rec.timestamp / 1000.0
                    if at < half:
                        continue
                    if tp.topic != changelog and at <= t0 + args.seconds:
                        output_bytes[tp.topic] = (output_bytes.get(tp.topic, 0) + len(rec.key or b"")
                                                  + len(rec.value or b""))
                    if tp.topic in (topics["audit"], topics["escalations"], topics["dlq"]):
                        continue
                    if tp.topic == changelog:
                        if at <= t0 + args.seconds:  # the rate is over the window's second half
                            changelog_bytes += len(rec.key or b"") + len(rec.value or b"")
                            changelog_writes += 1
                            changelog_values += len(rec.value or b"")
                        continue
                    value = json.loads(rec.value)
                    ts = datetime.fromisoformat(value["ts"]).timestamp()
                    role = "alerts" if tp.topic == topics["alerts"] else "risk_scores"
                    latency[role].append(at - (t0 + ts - ev0))
                    outputs.append((role, value.get("rider_id") or value["rider_pseudonym"], ts, at))

    async def send_all() -> None:
        pending: list[Any] = []
        for msg in messages:
            due = t0 + _event_time(msg) - ev0
            if due - time.time() > 0.005:
                await asyncio.sleep(due - time.time())
            sent_at.append(time.time())
            pending.append(await producer.send(topics[msg.role], value=msg.value_bytes(), key=msg.key.encode()))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)

    reader = asyncio.create_task(read_outputs())
    sender = asyncio.create_task(send_all())
    await asyncio.sleep(max(0.0, half - time.time()))
    consumed_half, t_half, cpu_half = await asyncio.to_thread(_consumed, port, topics), time.time(), cpu_seconds(pid)
    await asyncio.sleep(max(0.0, t0 + args.seconds - time.time()))
    consumed_end, t_end, cpu_end = await asyncio.to_thread(_consumed, port, topics), time.time(), cpu_seconds(pid)
    await sender
    await asyncio.sleep(6.0)  # the worker publishes its lag every 5 s
    lag_end = await asyncio.to_thread(metric_sum, port, "riskstream_consumer_lag_records",
                                      [topics["wearable"], topics["trip"]])
    stop.set()
    await reader
    await consumer.stop()
    await producer.stop()
    key = settings.privacy.hmac_key.get_secret_value().encode()
    riders = {m.key for m in messages if m.role != "weather"}
    worker, unmatched, after_weather = worker_latencies(outputs, first_sent(messages, sent_at),
                                                        {pseudonymize(r, key): r for r in riders},
                                                        *zones_and_weather(messages, sent_at))
    return {"consumed_per_s": (consumed_end - consumed_half) / (t_end - t_half), "lag_end": lag_end,
            "cpu_s_per_s": (cpu_end - cpu_half) / (t_end - t_half),
            "latency": latency, "worker_latency": worker, "unmatched": unmatched, "after_weather": after_weather, "changelog_bytes_per_s": changelog_bytes / (t_end - half),
            "changelog_writes_per_s": changelog_writes / (t_end - half),
            "changelog_value_bytes_mean": changelog_values / changelog_writes if changelog_writes else None,
            "output_bytes_per_s": {role: output_bytes.get(topics[role], 0) / (t_end - half) for role in OUTPUTS}}


def readings_of(msg: Any) -> list[tuple[str, float]]:
    """(rider id, event time) of each reading a wearable or trip message carries: one, or an envelope's records.

    >>> from riskstream.simulation.envelopes import pack
    >>> from riskstream.contracts.records import WearableReading
    >>> recs = [WearableReading(event_id=f"e{t}", ts=1_784_080_800 + t, rider_id="r1", accel_peak_g=1.2,
    ...                         accel_mean_g=1.0, accel_var=0.01) for t in range(3)]
    >>> readings_of(pack("wearable", "r1", recs))
    [('r1', 1784080800.0), ('r1', 1784080801.0), ('r1', 1784080802.0)]
    """
    if msg.role not in ("wearable", "trip"):
        return []
    if getattr(msg, "value", None) is not None:
        return [(msg.key, round(msg.value.ts.timestamp(), 3))]
    return [(msg.key, round(datetime.fromisoformat(r["ts"]).timestamp(), 3)) for r in json.loads(msg.raw)["records"]]


def first_sent(messages: list[Any], sent_at: list[float]) -> dict[tuple[str, float], float]:
    """(rider id, event time) → the wall time the first message carrying such a reading was sent (messages not
    sent, past the end of ``sent_at``, are left out)."""
    out: dict[tuple[str, float], float] = {}
    for msg, at in zip(messages, sent_at, strict=False):
        for reading in readings_of(msg):
            if reading not in out or at < out[reading]:
                out[reading] = at
    return out


def zones_and_weather(messages: list[Any], sent_at: list[float]) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Each rider's zone (of its last trip record) and the wall times each zone's weather messages were sent."""
    zones: dict[str, str] = {}
    weather: dict[str, list[float]] = {}
    for msg, at in zip(messages, sent_at, strict=False):
        if msg.role == "weather":
            weather.setdefault(msg.value.zone_id, []).append(at)
        elif msg.role == "trip":
            zones[msg.key] = (msg.value.zone_id if getattr(msg, "value", None) is not None
                              else json.loads(msg.raw)["records"][-1]["zone_id"])
    return zones, weather


def worker_latencies(outputs: list[tuple[str, str, float, float]], sent: dict[tuple[str, float], float],
                     riders_by_pseudonym: dict[str, str], zones: dict[str, str] | None = None,
                     weather: dict[str, list[float]] | None = None) -> tuple[dict[str, list[float]], int, int]:
    """The worker latency of each output, by role; how many outputs matched no sent reading; how many were
    decided at a weather message.

    An output ``(role, rider id or pseudonym, event time, Kafka timestamp)`` is decided at one of its rider's
    readings (the score point's event time), or, when its zone's weather changes, at the weather message (the
    worker then scores the zone's riders at their newest event time). Its worker latency is its Kafka timestamp
    minus the time the message it was decided at was sent: the latest weather message of the rider's zone sent
    after the reading and before the output, else the first message carrying a reading of that rider at that
    event time.

    >>> sent = {("r1", 100.0): 1000.0, ("r2", 100.0): 1002.0}
    >>> worker_latencies([("alerts", "r1", 100.0, 1000.5), ("risk_scores", "p2", 100.0, 1002.25),
    ...                   ("alerts", "r1", 101.0, 1003.0)], sent, {"p2": "r2"})
    ({'alerts': [0.5], 'risk_scores': [0.25]}, 1, 0)
    >>> worker_latencies([("alerts", "r1", 100.0, 1008.5)], sent, {}, {"r1": "z1"}, {"z1": [990.0, 1008.0]})
    ({'alerts': [0.5], 'risk_scores': []}, 0, 1)
    """
    out: dict[str, list[float]] = {"alerts": [], "risk_scores": []}
    unmatched = after_weather = 0
    for role, who, ts, at in outputs:
        rider = riders_by_pseudonym.get(who, who) if role == "risk_scores" else who
        start = sent.get((rider, round(ts, 3)))
        if start is None:
            unmatched += 1
            continue
        zone = (zones or {}).get(rider)
        later = [w for w in (weather or {}).get(zone or "", []) if start < w <= at]
        if later:
            start = max(later)
            after_weather += 1
        out[role].append(at - start)
    return out, unmatched, after_weather


def _event_time(msg: Any) -> float:
    return msg.newest_ts if getattr(msg, "value", None) is None else msg.value.ts.timestamp()


def _consumed(port: int, topics: dict[str, str]) -> float:
    return metric_sum(port, "riskstream_records_consumed_total", [topics["wearable"], topics["trip"]])


def metric_sum(port: int, name: str, topic_names: list[str]) -> float:
    text = scrape(port) or ""
    return sum(metric_value(text, name, topic=t) for t in topic_names)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used (``/proc/<pid>/stat``).

    >>> import os
    >>> cpu_seconds(os.getpid()) > 0
    True
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def print_level(lv: dict[str, Any]) -> None:
    def ms(d: dict[str, Any], k: str) -> str:
        return f"{d[k]:.2f}" if d[k] is not None else "-"

    a, i = lv["alert_latency_s"], lv["insurer_latency_s"]
    wa, wi = lv["alert_worker_latency_s"], lv["insurer_worker_latency_s"]
    print(f"{lv['riders']:>6} riders: {lv['input_per_s']:,.0f} readings/s in, {lv['consumed_per_s']:,.0f}/s consumed, "
          f"lag {lv['lag_end']:,.0f} (limit {lv['lag_limit']:,.0f}); worker latency: →alert p50/p99 "
          f"{ms(wa, 'p50')}/{ms(wa, 'p99')} s (n={wa['n']}), →insurer {ms(wi, 'p50')}/{ms(wi, 'p99')} s "
          f"(n={wi['n']}; {lv['outputs_unmatched']} outputs matched no reading, {lv['outputs_after_weather']} decided at "
          f"a weather message); device-inclusive: event→alert "
          f"p50/p99 {ms(a, 'p50')}/{ms(a, 'p99')} s, event→insurer {ms(i, 'p50')}/{ms(i, 'p99')} s; worker CPU "
          f"{lv['worker_cpu_s_per_s']:.2f} s/s = {lv['worker_cpu_us_per_rider_s']:,.0f} µs per rider-second; RSS "
          f"{lv['rss_bytes'] / 2**20:,.0f} MiB; changelog {lv['changelog_bytes_per_s']:,.0f} B/s = "
          f"{lv['changelog_bytes_per_rider_s']:,.0f} B per rider-second ({lv['changelog_writes_per_rider_s']:.3f} "
          f"writes per rider-second × {lv['changelog_value_bytes_mean'] or 0:,.0f} B mean value; "
          f"{lv['messages_per_rider_s']:.3f} input messages per rider-second); outputs "
          + ", ".join(f"{role} {b:,.1f}" for role, b in lv["output_bytes_per_rider_s"].items())
          + " B per rider-second; "
          f"{'sustained' if lv['sustained'] else 'NOT sustained'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
