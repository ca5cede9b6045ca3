"""``riskstream`` command line. Every subcommand has ``--help``; settings come from ``RISKSTREAM_*``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streams import safe_logging
from riskstream.contracts.errors import RiskstreamError

DESCRIPTION = """\
riskstream: occupational-risk stream processor for gig workers.
Wearable, trip and weather telemetry in; rider safety alerts (zh-CN/en), insurer risk
scores with premium signals, audit records and Prometheus metrics out.

Quick start:  riskstream demo            (embedded broker + simulator + worker + console)
Production:   RISKSTREAM_KAFKA__BROKER=kafka-1:9092 RISKSTREAM_KAFKA__EMBEDDED=false riskstream worker
"""


def _load_settings():  # noqa: ANN202 - Settings, imported lazily for a fast --help
    from streams.settings import Settings

    return Settings()  # a bad setting raises ConfigError or ValidationError: main() says which variable


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import EmbeddedBroker

    broker = EmbeddedBroker(args.host, args.port)
    stop = _StopFlag()
    with broker.start():
        print(f"embedded Kafka-compatible broker (Tansu) on {broker.bootstrap_servers}, in memory only (a restart "
              "starts empty); Ctrl-C to stop", flush=True)
        stop.wait(lambda: broker.process is not None and broker.process.poll() is None)
    print("broker stopped", flush=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    return run_worker(_load_settings(), loglevel=args.log_level)


def cmd_simulate(args: argparse.Namespace) -> int:
    from riskstream.simulation import FleetSimulator, SimConfig

    config = SimConfig(
        riders=args.riders, seed=args.seed, scenario=args.scenario, malformed_rate=args.malformed_rate,
    )
    records = FleetSimulator(config).records(args.hours * 3600)
    if args.envelope > 1:
        if args.to_file:
            raise RiskstreamError("--envelope applies to producing into the topics; --to-file writes single records")
        from riskstream.simulation.envelopes import envelopes

        records = envelopes(records, args.envelope)
    if args.to_file:
        from riskstream.simulation.files import write_jsonl

        n = write_jsonl(_progress(records, "simulating"), args.to_file)
        print(f"wrote {n} records to {args.to_file}")
        return 0
    return _produce(records, args.speed)


def cmd_replay(args: argparse.Namespace) -> int:
    from riskstream.cli.replay import read_written

    for _ in read_written(args.file):  # a bad line stops the replay before anything is sent
        pass
    return _produce(read_written(args.file), args.speed)


def _produce(records, speed: float | None) -> int:  # noqa: ANN001
    from riskstream.cli.producer import produce
    from streams.topics import ensure_topics

    settings = _load_settings()

    async def run() -> int:
        await ensure_topics(settings)
        stats = await produce(settings, _progress(records, "producing"), speed=speed)
        print(f"produced {stats.records} records in {stats.elapsed:.1f} s "
              f"({stats.records / max(stats.elapsed, 1e-9):,.0f}/s): {stats.by_role}")
        return 0

    return asyncio.run(run())


def _progress(iterable, desc: str):  # noqa: ANN001, ANN202
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit=" rec", disable=not sys.stderr.isatty(), mininterval=0.5)


def cmd_push(args: argparse.Namespace) -> int:
    from riskstream.push.gateway import run_push

    return run_push(_load_settings())


def cmd_schemas(args: argparse.Namespace) -> int:
    from riskstream.contracts.export import export_schemas

    written = export_schemas(args.out)
    for path in written:
        print(path)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_load_settings().public_dump(), indent=2, default=str))
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from streams.reconcile import run

    return run(_load_settings(), json_path=args.json, timeout=args.timeout)


def cmd_demo(args: argparse.Namespace) -> int:
    from riskstream.cli.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(
        duration_s=args.duration, riders=args.riders, seed=args.seed, speed=args.speed,
        scenario=args.scenario, malformed_rate=args.malformed_rate,
    ))


def cmd_console(args: argparse.Namespace) -> int:
    from riskstream.console.server import run_console

    return run_console(_load_settings())


def cmd_audit(args: argparse.Namespace) -> int:
    from datetime import datetime

    from riskstream.cli.audit import history, read_decisions, world_note

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise RiskstreamError(f"--since {args.since!r} is not an ISO time, e.g. 2026-07-15T02:00:00Z") from None
    settings = _load_settings()
    records = asyncio.run(read_decisions(settings, args.rider, timeout_s=args.timeout, since=since,
                                         all_partitions=args.all_partitions))
    lines = history(records, args.rider, since=since, lang=args.lang)
    note = world_note([r for r in records if r.rider_id == args.rider], args.lang) if lines else None
    if note:  # on stderr: stdout stays one line per decision for tools that read it
        print(note, file=sys.stderr)
    for line in lines:
        print(line)
    if not lines:
        print(f"no decisions for rider {args.rider} in {settings.topics.audit}"
              + (f" since {since.isoformat()}" if since else ""), file=sys.stderr)
    return 0


def _command_line(argv_tail: list[str]) -> str:
    import shlex

    return "riskstream " + " ".join(shlex.quote(a) for a in argv_tail)


def cmd_evaluate_alerts(args: argparse.Namespace) -> int:
    from riskstream.lab.closed_loop import Arm, LoopComparison
    from riskstream.lab.reports import alert_summary, alerts_markdown, write
    from riskstream.lab.run import FleetJob, run_jobs

    settings = _load_settings()
    seeds = list(range(args.seed, args.seed + args.seeds))
    arms = [0.0, args.compliance] if args.compliance > 0 else [0.0]
    jobs = [FleetJob(scenario, seed, args.riders, args.hours, c) for scenario in args.scenario for seed in seeds
            for c in arms]
    runs = run_jobs(jobs, settings, workers=args.jobs, progress=sys.stderr.isatty())
    sections = []
    versions: dict[str, str] = {}
    for scenario in args.scenario:
        open_runs = [runs[FleetJob(scenario, seed, args.riders, args.hours)] for seed in seeds]
        versions = open_runs[-1].model_versions
        loop = None
        if args.compliance > 0:
            loop = LoopComparison(args.compliance)
            loop.ignored = [Arm.from_run(r) for r in open_runs]
            loop.followed = [Arm.from_run(runs[FleetJob(scenario, seed, args.riders, args.hours, args.compliance)])
                             for seed in seeds]
        sections.append((scenario, alert_summary(open_runs), loop))
    command = _command_line(["evaluate-alerts", *sys.argv[2:]] if sys.argv[1:2] == ["evaluate-alerts"] else
                            ["evaluate-alerts"])
    text = alerts_markdown(command, sections, args.riders, args.hours, seeds, versions, args.compliance)
    print(text)
    if args.report:
        print(f"wrote {write(args.report, text)}", file=sys.stderr)
    return 0


def cmd_evaluate_outcome(args: argparse.Namespace) -> int:
    import json
    import time

    from riskstream.lab.outcome import run_units, study_units, summarize
    from riskstream.lab.outcome_report import arms_plot, markdown, rates_plot
    from riskstream.lab.reports import write

    settings = _load_settings()
    if args.quick:
        riders, hours, seeds, sensitivity = 10, 1.0, [args.seed], False
    else:
        riders, hours, seeds, sensitivity = args.riders, args.hours, list(range(args.seed, args.seed + args.seeds)), True
    if riders < 1 or hours <= 0 or not seeds:
        raise RiskstreamError("need --riders ≥ 1, --hours > 0 and --seeds ≥ 1")
    if not 0.0 < args.compliance <= 1.0:
        raise RiskstreamError(f"--compliance must be in (0, 1], got {args.compliance}")
    started = time.perf_counter()
    units = study_units(args.scenario, seeds, riders, hours, args.compliance, sensitivity)
    results = run_units(units, settings, workers=args.jobs, progress=sys.stderr.isatty())
    summary = summarize(results, riders, hours, seeds, args.compliance, args.quick)
    elapsed = time.perf_counter() - started
    summary["setup"]["elapsed_s"] = round(elapsed, 1)
    text = json.dumps(summary, indent=1) + "\n"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.report:
        stem = args.report.with_suffix("")
        arms_png = arms_plot(summary, stem.parent / f"{stem.name}-arms.png")
        rates_png = rates_plot(summary, stem.parent / f"{stem.name}-alert-rates.png")
        command = _command_line(["evaluate-outcome", *args.argv])
        report = markdown(summary, command, arms_png.name, rates_png.name, elapsed)
        print(f"wrote {write(args.report, report)}, {arms_png} and {rates_png}", file=sys.stderr)
    for scenario, sec in summary["scenarios"].items():
        d = sec["differences"]["policy_minus_placebo"]
        c = sec["differences"]["policy_minus_control"]
        print(f"{scenario}: {sec['rider_hours']:.0f} online rider-hours; policy alerts per online rider-hour "
              f"{sec['arms']['policy']['alerts_per_online_rider_hour']}; expected incidents policy − control "
              f"{c['expected_incidents_rel']} {c['ci']}, policy − placebo {d['expected_incidents_rel']} {d['ci']}")
    return 0


def cmd_fairness(args: argparse.Namespace) -> int:
    from features import FEATURE_NAMES
    from riskstream.lab.fairness import plot, protected_features, rider_frame
    from riskstream.lab.reports import fairness_markdown, write
    from riskstream.lab.run import run_fleet
    from riskstream.simulation import SimConfig

    settings = _load_settings()
    cfg = SimConfig(riders=args.riders, seed=args.seed, scenario=args.scenario)
    run = run_fleet(cfg, args.hours, settings, progress=sys.stderr.isatty(), desc="simulating")
    pricing = settings.premium
    key = settings.privacy.hmac_key.get_secret_value().encode()
    frame = rider_frame(run.insurer, run.profiles, key, pricing.severity_injury, pricing.severity_accident)
    if frame.empty:
        raise RiskstreamError("no insurer records: simulate more hours or riders")
    hits = protected_features(FEATURE_NAMES)
    png = args.report.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(frame, png)
    command = _command_line(["fairness", *sys.argv[2:]] if sys.argv[1:2] == ["fairness"] else ["fairness"])
    text = fairness_markdown(command, frame, run, hits, png.name, args.riders, args.hours, args.scenario, args.seed,
                             cap=min(1.0 + pricing.max_change, pricing.max_multiplier))
    print(text)
    print(f"wrote {write(args.report, text)} and {png}", file=sys.stderr)
    return 1 if hits or run.protected_hits else 0


class _StopFlag:
    """Blocks until SIGINT/SIGTERM or until ``alive()`` turns false."""

    def __init__(self) -> None:
        self.stopped = False
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, *_: object) -> None:
        self.stopped = True

    def wait(self, alive) -> None:  # noqa: ANN001
        import time

        while not self.stopped and alive():
            time.sleep(0.2)


class _Subcommand(argparse.ArgumentParser):
    """A subcommand's parser; with ``module``, its flags and its ``run`` come from that module, imported when used.

    The lab's commands (``train``, ``evaluate``) define their flags next to their code (``add_arguments(parser)``,
    ``run(args)``), and importing that code takes seconds (LightGBM, pandas): it is imported only when the
    subcommand is parsed or its help shown, so ``riskstream --help`` and every other command stay fast.
    """

    def __init__(self, *args: Any, module: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._module = module

    def _load(self) -> None:
        if self._module is None:
            return
        import importlib

        module, self._module = importlib.import_module(self._module), None
        self.description = (module.__doc__ or "").split("\n")[0]
        module.add_arguments(self)
        self.set_defaults(func=module.run)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._load()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._load()
        return super().format_usage()

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskstream", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Subcommand)

    p = sub.add_parser("demo", help="broker + simulator + worker + console view, no configuration")
    p.add_argument("--duration", type=float, default=90.0, help="seconds to run (default 90); Ctrl-C stops early")
    p.add_argument("--riders", type=int, default=50, help="simulated riders (default 50)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    p.add_argument("--speed", type=float, default=20.0,
                   help="event-time seconds per wall second (default 20: 30 simulated minutes in 90 s)")
    p.add_argument("--scenario", default="mixed", choices=["default", "heatwave", "storm", "mixed"],
                   help="weather scenario (default mixed: a heat wave in some zones, a storm in others)")
    p.add_argument("--malformed-rate", type=float, default=0.002,
                   help="share of deliberately malformed records, to show the dead-letter path (default 0.002)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "broker", help="run the embedded Kafka-compatible broker (Tansu) in the foreground; in memory only",
        description="Runs Tansu, a Kafka-compatible broker, for local use. It keeps everything in memory only: "
        "when it stops or restarts, every topic, committed offset and changelog (the workers' rider state) is gone. "
        "A running worker notices the restart and stops with exit status 3; start it again and it recreates the "
        "topics and starts clean. For data that must survive, use a real Kafka cluster (README).",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9092, help="listen port (default 9092)")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("worker", help="run the stream processor (Faust) against RISKSTREAM_KAFKA__BROKER")
    p.add_argument("--log-level", default=None, help="debug, info, warning (default from settings: info)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("simulate", help="simulate a fleet into the input topics, or into a JSON-lines file")
    p.add_argument("--riders", type=int, default=50, help="riders (default 50)")
    p.add_argument("--seed", type=int, default=1, help="seed; the same seed gives the same records (default 1)")
    p.add_argument("--hours", type=float, default=1.0, help="hours of event time to simulate (default 1)")
    p.add_argument("--scenario", default="mixed", choices=["default", "heatwave", "storm", "mixed"])
    p.add_argument("--speed", type=float, default=None,
                   help="pace by event time: N event seconds per wall second (default: as fast as possible)")
    p.add_argument("--malformed-rate", type=float, default=0.0, help="share of malformed records (default 0)")
    p.add_argument("--to-file", type=Path, default=None, help="write JSON lines here instead of producing to Kafka")
    p.add_argument("--envelope", type=int, default=1, metavar="N",
                   help="send each rider's wearable and trip records N per message, in envelopes, as a phone that "
                   "uploads every N seconds (default 1: one record per message; at most 600)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("replay", help="produce a JSON-lines file (from `simulate --to-file`) into the topics, in order, "
                       "each value exactly as written in the file")
    p.add_argument("file", type=Path)
    p.add_argument("--speed", type=float, default=None, help="pace by event time (default: as fast as possible)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "push",
        help="deliver rider.alerts to the push provider's webhook (signed, idempotent, retried, dead-lettered)",
        description="Consumes rider.alerts and POSTs each alert to RISKSTREAM_PUSH__WEBHOOK_URL with an "
        "Idempotency-Key, an X-Riskstream-Timestamp and an X-Riskstream-Signature (HMAC-SHA256 with "
        "RISKSTREAM_PUSH__WEBHOOK_SECRET of timestamp, key and body; receivers allow 300 s of clock skew). "
        "Retries 408/429/5xx/timeouts with exponential backoff and jitter; other 4xx go to riskstream.dlq. "
        "Metrics on RISKSTREAM_PUSH__METRICS_PORT (default 9465).",
    )
    p.set_defaults(func=cmd_push)

    sub.add_parser("train", help="train the LightGBM models on simulated history", module="riskstream.lab.train")
    sub.add_parser("evaluate", help="held-out evaluation report of the shipped models, with plots; --drift for the "
                   "drift experiment", module="riskstream.lab.evaluate_cli")

    p = sub.add_parser(
        "console", help="web page for safety teams: zones, open suspected falls, live feed (default 127.0.0.1:8090)",
        description="Serves the safety console on RISKSTREAM_CONSOLE__HOST:RISKSTREAM_CONSOLE__PORT (default "
        "127.0.0.1:8090), fed from the topics by its own consumer (no group, nothing committed): zones with heat "
        "index, weather, riders online and in high/severe bands and alerts in the last hour; open suspected falls "
        "and escalations with acknowledge/resolve actions (written to safety.acknowledgements and audited); a live "
        "feed; model versions, conservative mode and dead letters per minute; a page per rider with the decisions "
        "in plain words. With RISKSTREAM_CONSOLE__TOKEN every request needs the token; without one it listens on "
        "127.0.0.1 only.",
    )
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("schemas", help="export a JSON Schema per topic")
    p.add_argument("--out", type=Path, default=Path("docs/contracts"), help="directory (default docs/contracts)")
    p.set_defaults(func=cmd_schemas)

    p = sub.add_parser("config", help="print the effective settings, secrets hidden")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser(
        "reconcile", help="check every input record is applied, a duplicate, too late or dead-lettered (from topics)",
        description="Reads the rider-keyed input topics, the dead-letter topic and the rider-state changelog "
        "(<app_id>-rider-state-changelog) from the beginning with its own consumer (no group, nothing committed) "
        "and prints, per input topic, input = applied + duplicate + too_late + dead-lettered, with every rider "
        "whose counts differ and every counter that went down along the changelog. Exit code 1 if it does not "
        "reconcile. Run it when the workers have caught up (consumer lag 0).")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the full report as JSON to FILE")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to give up reading a topic (default 120)")
    p.set_defaults(func=cmd_reconcile)
    _add_evaluation_commands(sub)
    return parser


def _add_evaluation_commands(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    """Audit history and the simulator-based evaluations (added after the core commands)."""
    p = sub.add_parser("audit", help="explain one rider's decision history in plain language (from audit.decisions)",
                       description="Reads the rider's partition of the audit topic (it is keyed by rider id) up "
                       "to its current end, from --since on by Kafka's time index (no consumer group, nothing "
                       "committed), and prints one line per decision of the rider, oldest first: time, what was "
                       "decided, the reasons, thresholds and inputs used, model versions and whether the "
                       "conservative mode was on.")
    p.add_argument("--rider", required=True, help="rider id (the key of audit.decisions)")
    p.add_argument("--since", default=None, help="only decisions at or after this ISO time (UTC if no offset)")
    p.add_argument("--lang", default="en", choices=["en", "zh-CN"], help="language of the explanations (default en)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to give up reading the topic (default 60)")
    p.add_argument("--all-partitions", action="store_true",
                   help="scan every partition (if producers used a partitioner other than Kafka's default)")
    p.set_defaults(func=cmd_audit)

    scenarios = ["default", "heatwave", "storm", "mixed"]
    p = sub.add_parser("evaluate-alerts",
                       help="alert volume, incidents warned ahead, closed loop (simulator, no Kafka)",
                       description="Runs the simulated fleet through the processor in-process and reports alerts "
                       "per online rider-hour by kind, the share of incidents preceded by a relevant alert within "
                       "60 min (and by any alert) against chance, and, with --compliance > 0, the incident "
                       "reduction when riders follow the advice (same seeds, alerts ignored as control).")
    p.add_argument("--riders", type=int, default=30, help="riders per run (default 30)")
    p.add_argument("--hours", type=float, default=8.0,
                   help="hours of event time per run, from 10:00 local (default 8: most of a shift, the hot hours and after)")
    p.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, from --seed on (default 3)")
    p.add_argument("--scenario", nargs="+", default=["mixed", "default"], choices=scenarios,
                   help="weather scenario(s), one report section each (default: mixed default)")
    p.add_argument("--compliance", type=float, default=0.7,
                   help="probability a rider follows an alert in the closed loop; 0 skips it (default 0.7)")
    p.add_argument("--report", type=Path, default=None, help="also write the Markdown report here")
    p.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="runs in parallel processes (default: cores, at most 4); results do not depend on it")
    p.set_defaults(func=cmd_evaluate_alerts)

    p = sub.add_parser("evaluate-outcome",
                       help="do alerts prevent incidents? control, policy, placebo, rules and oracle arms (simulator, no Kafka)",
                       description="Runs the closed-loop outcome study (riskstream/lab/outcome.py): per scenario and "
                       "seed the same simulated fleet (riders, weather, random draws) with alerts ignored (control), "
                       "from the worker's decision path (policy), at random with the policy's per-rider volume and "
                       "kind mix (placebo), from the rule-based scorer (rules) and targeted by the true hazard at "
                       "the policy's volume (oracle). Reports incidents and expected incidents (∫ true hazard dt) "
                       "per arm and their differences with 95 %% intervals, alerts per online rider-hour, the fall "
                       "detector's recall and false prompts, warned-ahead shares and a sensitivity table.")
    p.add_argument("--quick", action="store_true",
                   help="a CI-sized slice: 10 riders × 1 h per scenario, one seed (--seed), no sensitivity runs")
    p.add_argument("--riders", type=int, default=100, help="riders per run (default 100; ignored with --quick)")
    p.add_argument("--hours", type=float, default=8.0,
                   help="hours of event time per run from 10:00 local (default 8; ignored with --quick)")
    p.add_argument("--seed", type=int, default=21, help="first seed (default 21)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per scenario from --seed on (default 2; ignored with --quick)")
    p.add_argument("--scenario", nargs="+", default=["default", "mixed"], choices=scenarios,
                   help="weather scenarios (default: default mixed)")
    p.add_argument("--compliance", type=float, default=0.7,
                   help="probability a rider follows an alert in the policy, placebo, rules and oracle arms (default 0.7)")
    p.add_argument("--json", type=Path, default=None, help="write the study's summary here as JSON")
    p.add_argument("--report", type=Path, default=None,
                   help="write the Markdown report here, the plots next to it (e.g. docs/reports/outcome.md)")
    p.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="(scenario, seed) units in parallel processes (default: cores, at most 4); results do not depend on it")
    p.set_defaults(func=cmd_evaluate_outcome)

    p = sub.add_parser("fairness", help="score and premium by protected group (sex, age band) on the simulator",
                       description="Runs the simulated fleet through the processor in-process, joins the insurer "
                       "records (by pseudonym) to the riders' protected attributes, which no model sees, and "
                       "writes a Markdown report with a PNG plot. Exits 1 if a protected attribute is a model "
                       "feature or appears in an output record.")
    p.add_argument("--riders", type=int, default=150, help="riders (default 150)")
    p.add_argument("--hours", type=float, default=3.0, help="hours of event time (default 3)")
    p.add_argument("--seed", type=int, default=11, help="seed (default 11)")
    p.add_argument("--scenario", default="mixed", choices=scenarios, help="weather scenario (default mixed)")
    p.add_argument("--report", type=Path, default=Path("docs/reports/fairness.md"),
                   help="Markdown report; the plot goes next to it as .png (default docs/reports/fairness.md)")
    p.set_defaults(func=cmd_fairness)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1:]  # the command's flags as given, for a report's "Regenerate" line
    safe_logging.install()  # a key or id from input cannot forge a log line
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return _run(args.command, lambda: args.func(args))


def _run(command: str, func: Callable[[], int | None]) -> int:
    """Run a command; a configuration or other riskstream error is one message and exit status 2, no traceback."""
    try:
        return int(func() or 0)
    except ValidationError as exc:
        from streams.settings import config_error, is_config_error

        if not is_config_error(exc):
            raise  # a record or a bug, not a setting: the traceback helps
        print(f"riskstream {command}: {config_error(exc)}", file=sys.stderr)
        return 2
    except RiskstreamError as exc:
        print(f"riskstream {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
