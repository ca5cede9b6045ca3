"""Readings per second of the riskstream worker, of a no-op riskstream agent and of a no-op quixstreams app.

On one embedded broker, the same simulated readings (wearable, trip, weather) are produced twice: in
riskstream's layout, each rider's wearable and trip records in envelopes of ``--envelope`` records
(a phone that uploads every 10 s), and one reading per message (the layout a platform would use
without envelopes). Then ``--rounds`` rounds, in alternating order, each of:

- ``pipeline``: the riskstream worker (parsing, state, scoring, decisions, outputs, changelog) on the
  envelope layout, timed from its first consumed record to its last (its Prometheus counter);
- ``noop``: a Faust agent consuming as the worker does (benchmarks/noop_app.py) on the envelope layout,
  decoding each message and counting its readings;
- ``noop_single``: the same agent on the one-per-message layout (what envelopes buy);
- ``quixstreams``: a no-op quixstreams app (benchmarks/quix_noop.py) on the one-per-message layout,
  decoding and counting each message; run in ``--quix-python`` (``make bench-venv``).

Every run is a fresh consumer group reading from the beginning; the medians and the spread are printed,
and the ratio pipeline ÷ noop of each round (its median, min and max), with the targets of issue 17
beside their baselines: no-op riskstream ≥ no-op quixstreams; pipeline ≥ 0.6 × no-op riskstream.

    python -m benchmarks.bench_pipeline                 # 100 k+ readings, 3 rounds
    python -m benchmarks.bench_pipeline --quick --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from riskstream.cli.producer import produce
from riskstream.simulation import FleetSimulator, SimConfig
from riskstream.simulation.envelopes import envelopes
from riskstream.testing.workers import Process, free_port, metric_value, scrape, start_worker, wait_until
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ensure_topics

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq")
READ = ("wearable", "trip", "weather")
#: The interpreter with quixstreams, made by ``make bench-venv``.
BENCH_VENV_PYTHON = Path(__file__).resolve().parents[1] / ".venv-bench" / "bin" / "python"
#: 12:00 local time (UTC+8) in the simulator's default day: more riders on shift than at its 10:00 default.
NOON = datetime(2026, 7, 15, 4, 0, tzinfo=timezone.utc)
RUN_TIMEOUT_S = 900.0
#: Fewer readings than this and the ratios are noise (issue 17: 15,708 records printed a ratio of 1.44).
EVIDENCE_READINGS = 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--riders", type=int, default=1000, help="simulated riders, not all on shift (default 1000)")
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of event time (default 5)")
    parser.add_argument("--envelope", type=int, default=10, help="records per envelope (default 10: 10 s uploads)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of every run (default 3)")
    parser.add_argument("--min-readings", type=int, default=EVIDENCE_READINGS,
                        help="refuse fewer readings than this: noise must not flip the ratio (default 100000)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="CI-sized: 600 riders, 3 minutes, 3 rounds, at least 10000 readings (its ratios are "
                        "no evidence for the targets: it says so)")
    parser.add_argument("--quix-python", type=Path, default=None,
                        help=f"interpreter with quixstreams (default {BENCH_VENV_PYTHON} if it exists, else this one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.riders, args.minutes, args.min_readings = 600, 3.0, 10_000
    quix_python = args.quix_python or (BENCH_VENV_PYTHON if BENCH_VENV_PYTHON.exists() else Path(sys.executable))
    if problem := quix_problem(quix_python):
        parser.error(f"the quixstreams baseline cannot run in {quix_python}: {problem}; run `make bench-venv` "
                     "(it makes .venv-bench beside this checkout) or pass --quix-python with an interpreter that "
                     "has quixstreams")

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    tag = uuid.uuid4().hex[:6]
    layouts = {name: {role: f"{tag}.{name}.{role}" for role in ROLES} for name in ("env", "single")}
    sim = FleetSimulator(SimConfig(riders=args.riders, seed=args.seed, scenario="mixed", start=NOON))
    records = [r for r in sim.records(args.minutes * 60) if r.role in READ and r.raw is None]
    n_all = len(records)
    n_riders = sum(1 for r in records if r.role != "weather")
    if n_all < args.min_readings:
        parser.error(f"{n_all:,} readings is fewer than --min-readings {args.min_readings:,}: "
                     "raise --riders or --minutes")
    packed = list(envelopes(records, args.envelope))
    runs: dict[str, list[tuple[int, float]]] = {"noop": [], "pipeline": [], "noop_single": [], "quixstreams": []}
    with EmbeddedBroker("127.0.0.1", free_port(), log_path=tmp / "tansu.log") as broker:
        settings = {name: Settings.model_validate({"kafka": {"broker": broker.url}, "topics": topics})
                    for name, topics in layouts.items()}
        for s in settings.values():
            asyncio.run(ensure_topics(s))
        for name, batch in (("env", packed), ("single", records)):
            t0 = time.monotonic()
            asyncio.run(produce(settings[name], batch))
            secs = time.monotonic() - t0
            print(f"produced {n_all:,} readings in {len(batch):,} messages ({name}) in {secs:.1f} s")
        order = list(runs)
        for rnd in range(args.rounds):
            for name in (order if rnd % 2 == 0 else order[::-1]):
                env_topics, single_topics = layouts["env"], layouts["single"]
                if name == "pipeline":
                    result = _run_worker(broker, env_topics, n_riders, tmp)
                elif name == "noop":
                    result = _run_noop(broker, env_topics, n_all, tmp)
                elif name == "noop_single":
                    result = _run_noop(broker, single_topics, n_all, tmp)
                else:
                    result = _run_quix(broker, single_topics, n_all, tmp, quix_python)
                runs[name].append(result)
                print(f"  round {rnd + 1} {name:<12} {result[0]:>9,} readings {result[1]:>7.2f} s "
                      f"{result[0] / result[1]:>10,.0f}/s", flush=True)
    report = summarise(runs, n_all, len(packed), args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def quix_problem(python: Path) -> str | None:
    """Why ``python`` cannot run the quixstreams baseline (None: it can), found before any round runs.

    >>> quix_problem(Path("/nonexistent/python"))
    'no such interpreter'
    """
    if not python.exists():
        return "no such interpreter"
    done = subprocess.run([str(python), "-c", "import quixstreams"], capture_output=True, text=True, check=False)
    if done.returncode:
        return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return None


def rate(result: tuple[int, float]) -> float:
    return result[0] / result[1]


def summarise(runs: dict[str, list[tuple[int, float]]], readings: int, messages: int,
              args: argparse.Namespace) -> dict[str, Any]:
    """Medians per run kind, and the ratio pipeline ÷ no-op of each round."""
    rates = {name: [rate(r) for r in results] for name, results in runs.items()}
    ratios = [p / n for p, n in zip(rates["pipeline"], rates["noop"], strict=True)]
    return {
        "readings": readings, "envelope_messages": messages, "envelope_size": args.envelope, "rounds": args.rounds,
        "records_per_s": statistics.median(rates["pipeline"]),
        "noop_records_per_s": statistics.median(rates["noop"]),
        "noop_single_records_per_s": statistics.median(rates["noop_single"]),
        "quixstreams_records_per_s": statistics.median(rates["quixstreams"]),
        "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "runs_records_per_s": rates,
    }


def print_report(r: dict[str, Any]) -> None:
    print(f"\n{r['readings']:,} readings ({r['envelope_messages']:,} messages in the envelope layout, "
          f"{r['envelope_size']} records per envelope), {r['rounds']} alternating rounds\n")
    print(f"{'run':<44}{'median/s':>10}{'min/s':>10}{'max/s':>10}")
    names = {"pipeline": "riskstream worker (envelopes)", "noop": "no-op riskstream agent (envelopes)",
             "noop_single": "no-op riskstream agent (one per message)",
             "quixstreams": "no-op quixstreams app (one per message)"}
    for key, label in names.items():
        xs = r["runs_records_per_s"][key]
        print(f"{label:<44}{statistics.median(xs):>10,.0f}{min(xs):>10,.0f}{max(xs):>10,.0f}")
    noop, quix = r["noop_records_per_s"], r["quixstreams_records_per_s"]
    print(f"\ntarget: no-op riskstream {noop:,.0f}/s ≥ no-op quixstreams {quix:,.0f}/s: "
          f"{noop / quix:.2f}× — {'met' if noop >= quix else 'missed'}")
    print(f"target: pipeline ÷ no-op riskstream ≥ 0.6: median {r['ratio_median']:.2f} "
          f"(min {r['ratio_min']:.2f}, max {r['ratio_max']:.2f}) — {'met' if r['ratio_median'] >= 0.6 else 'missed'}")
    print(f"envelopes buy the no-op agent {noop / r['noop_single_records_per_s']:.1f}× "
          f"({r['noop_single_records_per_s']:,.0f}/s one per message)")
    if r["readings"] < EVIDENCE_READINGS:
        print(f"NOTE: {r['readings']:,} readings is fewer than {EVIDENCE_READINGS:,}: runs this short are dominated by "
              "fixed costs (start, fetch waits) and the ratios above are no evidence for the targets; run without "
              "--quick")


def _written(out: Path, proc: Process) -> Callable[[], bool]:
    """True once ``out`` exists; an error if ``proc`` ended without writing it (it may end right after writing)."""

    def written() -> bool:
        if out.exists():
            return True
        if not proc.alive() and not out.exists():
            raise AssertionError(f"{proc.log_path.name} ended without a result:\n{proc.log()[-2000:]}")
        return False

    return written


def _run_noop(broker: EmbeddedBroker, topics: dict[str, str], n: int, tmp: Path) -> tuple[int, float]:
    out = tmp / f"noop-{uuid.uuid4().hex[:6]}.json"
    env = {"NOOP_BROKER": broker.url, "NOOP_EXPECT": str(n), "NOOP_OUT": str(out),
           "NOOP_TOPICS": ",".join(topics[r] for r in READ)}
    proc = Process([sys.executable, "-m", "benchmarks.noop_app", "worker", "-l", "warn", "--without-web"], env,
                   tmp / f"{out.stem}.log")
    try:
        wait_until(_written(out, proc), RUN_TIMEOUT_S, 0.2, "the no-op agent to read every reading")
    finally:
        proc.stop()
    result = json.loads(out.read_text())
    return result["records"], result["seconds"]


def _run_quix(broker: EmbeddedBroker, topics: dict[str, str], n: int, tmp: Path,
              python: Path) -> tuple[int, float]:
    out = tmp / f"quix-{uuid.uuid4().hex[:6]}.json"
    env = {"QUIX_BROKER": broker.bootstrap_servers, "QUIX_EXPECT": str(n), "QUIX_OUT": str(out), "QUIX_GROUP": out.stem,
           "QUIX_TOPICS": ",".join(topics[r] for r in READ)}
    proc = Process([str(python), str(Path(__file__).with_name("quix_noop.py"))], env, tmp / f"{out.stem}.log")
    try:
        wait_until(_written(out, proc), RUN_TIMEOUT_S, 0.2, "the quixstreams app to read every reading")
    finally:
        proc.stop()
    result = json.loads(out.read_text())
    return result["records"], result["seconds"]


def _run_worker(broker: EmbeddedBroker, topics: dict[str, str], n: int, tmp: Path) -> tuple[int, float]:
    port = free_port()
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    env = {"RISKSTREAM_KAFKA__BROKER": broker.url, "RISKSTREAM_METRICS__PORT": str(port),
           "RISKSTREAM_WORKER__STATE_DIR": str(tmp / app_id), "RISKSTREAM_WORKER__APP_ID": app_id,
           "RISKSTREAM_WORKER__LOG_LEVEL": "warning"}
    env.update({f"RISKSTREAM_TOPICS__{role.upper()}": name for role, name in topics.items()})
    proc = start_worker(env, tmp / f"{app_id}.log")

    def consumed() -> float:
        text = scrape(port) or ""
        return sum(metric_value(text, "riskstream_records_consumed_total", topic=topics[r]) for r in ("wearable", "trip"))

    try:
        wait_until(lambda: consumed() > 0, RUN_TIMEOUT_S, 0.02, "the worker's first record", procs=(proc,))
        first = time.monotonic()
        wait_until(lambda: consumed() >= n, RUN_TIMEOUT_S, 0.05, "the worker to process every record", procs=(proc,))
        seconds = time.monotonic() - first
    finally:
        proc.stop()
    return n, seconds


if __name__ == "__main__":
    sys.exit(main())
