"""Throughput of the riskstream worker against a no-op Faust agent, on the embedded broker, in one run.

Both read the same pre-produced simulated records (wearable, trip, weather) from the same broker,
with the same Faust settings; each is timed from its first record to its last. The ratio is the
cost of parsing, per-rider state, batched scoring, decisions, outputs and changelog writes.

    python -m benchmarks.bench_pipeline --riders 200 --minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from riskstream.cli.producer import produce
from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.testing.workers import Process, free_port, metric_value, scrape, start_worker, wait_until
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ensure_topics

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--riders", type=int, default=200, help="simulated riders (default 200)")
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of event time (default 5)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    tag = uuid.uuid4().hex[:6]
    topics = {role: f"{tag}.{role}" for role in ROLES}
    with EmbeddedBroker("127.0.0.1", free_port(), log_path=tmp / "tansu.log") as broker:
        settings = Settings.model_validate({"kafka": {"broker": broker.url}, "topics": topics})
        asyncio.run(ensure_topics(settings))
        sim = FleetSimulator(SimConfig(riders=args.riders, seed=args.seed, scenario="mixed"))
        records = [r for r in sim.records(args.minutes * 60) if r.role in ("wearable", "trip", "weather")]
        t0 = time.monotonic()
        asyncio.run(produce(settings, records))
        produce_s = time.monotonic() - t0
        n = len(records)
        print(f"produced {n:,} records in {produce_s:.1f} s ({n / produce_s:,.0f}/s, single-record batches)")

        noop = _run_noop(broker, topics, n, tmp)
        ours = _run_worker(broker, topics, n, tmp)
    print(f"\n{'pipeline':<28}{'records':>10}{'seconds':>10}{'records/s':>12}")
    for name, (count, secs) in (("no-op Faust agent", noop), ("riskstream worker", ours)):
        print(f"{name:<28}{count:>10,}{secs:>10.2f}{count / secs:>12,.0f}")
    print(f"\nriskstream / no-op throughput ratio: {(ours[0] / ours[1]) / (noop[0] / noop[1]):.2f}")
    return 0


def _run_noop(broker: EmbeddedBroker, topics: dict[str, str], n: int, tmp: Path) -> tuple[int, float]:
    out = tmp / "noop.json"
    env = {"NOOP_BROKER": broker.url, "NOOP_EXPECT": str(n), "NOOP_OUT": str(out),
           "NOOP_TOPICS": ",".join(topics[r] for r in ("wearable", "trip", "weather"))}
    proc = Process([sys.executable, "-m", "benchmarks.noop_app", "worker", "-l", "warn", "--without-web"], env,
                   tmp / "noop.log")
    try:
        wait_until(out.exists, 600, 0.2, "the no-op agent to read every record", procs=(proc,))
    finally:
        proc.stop()
    result = json.loads(out.read_text())
    return result["records"], result["seconds"]


def _run_worker(broker: EmbeddedBroker, topics: dict[str, str], n: int, tmp: Path) -> tuple[int, float]:
    port = free_port()
    env = {"RISKSTREAM_KAFKA__BROKER": broker.url, "RISKSTREAM_METRICS__PORT": str(port),
           "RISKSTREAM_WORKER__STATE_DIR": str(tmp / "worker"), "RISKSTREAM_WORKER__APP_ID": f"bench-{uuid.uuid4().hex[:6]}",
           "RISKSTREAM_WORKER__LOG_LEVEL": "warning"}
    env.update({f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()})
    proc = start_worker(env, tmp / "worker.log")

    def consumed() -> float:
        return metric_value(scrape(port) or "", "riskstream_records_consumed_total")

    try:
        wait_until(lambda: consumed() > 0, 300, 0.05, "the worker's first record", procs=(proc,))
        first = time.monotonic()
        wait_until(lambda: consumed() >= n, 600, 0.05, "the worker to process every record", procs=(proc,))
        seconds = time.monotonic() - first
    finally:
        proc.stop()
    return n, seconds


if __name__ == "__main__":
    sys.exit(main())
