"""An insurer's consumer of ``insurer.risk-scores``: validate, summarise, deduplicate, commit.

A quickstart written only against what riskstream publishes: the topic, and its JSON Schema
(``docs/contracts/insurer.risk-scores.schema.json``). It imports nothing of riskstream; it needs
``confluent-kafka`` and ``jsonschema`` (``pip install confluent-kafka jsonschema``).

For each record it

1. parses the value as JSON and validates it against the published schema (a record that does
   not validate is reported as ``INVALID`` and skipped: fix the producer, not the reader);
2. drops a repeated ``event_id`` (Kafka delivers at least once: a worker that restarts may send
   a record again with the same id; a corrected record always has a new id, so nothing is lost);
3. prints one line: pseudonym, period, band, probabilities, multiplier and reason codes;
4. commits the record's offset only after that, so a crash re-reads at most the record in hand.

    python docs/examples/insurer_consumer.py --bootstrap 127.0.0.1:9092 --max-records 10
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from jsonschema import Draft202012Validator, FormatChecker

DEFAULT_SCHEMA = Path(__file__).resolve().parent.parent / "contracts" / "insurer.risk-scores.schema.json"
#: How many recent event ids to remember for deduplication (bounded memory).
SEEN_IDS = 100_000


class Deduplicator:
    """Remembers the last ``size`` event ids; ``seen(id)`` is True for a repeat."""

    def __init__(self, size: int = SEEN_IDS) -> None:
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, event_id: str) -> bool:
        if event_id in self.ids:
            self.ids.move_to_end(event_id)
            return True
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False


def summary(record: dict[str, Any]) -> str:
    """One line per record."""
    risk = record["risk"]
    previous = record.get("previous_multiplier")
    move = f"{previous:.3f}->" if previous is not None else ""
    codes = ",".join(r["code"] for r in record["reasons"])
    mode = " CONSERVATIVE" if record.get("conservative_mode") else ""
    return (f"{record['ts']} {record['rider_pseudonym']} band={record['risk_band']} "
            f"P(any)={record['risk_score']:.4f} P(injury)={risk['injury']:.4f} P(accident)={risk['accident']:.4f} "
            f"/{risk.get('horizon_min', 60)}min multiplier={move}{record['premium_multiplier']:.3f} "
            f"Z={record['credibility']:.3f} exposure_h={record['exposure_hours']:.2f} reasons={codes}{mode} "
            f"event_id={record['event_id']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Read riskstream's insurer.risk-scores topic: validate each record against the published JSON "
        "Schema, drop repeated event_ids, print one line per record, commit its offset after processing. "
        "Keys are HMAC pseudonyms of riders, never rider ids.",
        epilog="Prints 'OK <summary>' per valid record, 'DUPLICATE <event_id>' and 'INVALID <why>' per skipped one, "
        "and a last line 'done: N valid, D duplicates, I invalid'. Exit status 0 unless Kafka fails.",
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers (default: %(default)s)")
    parser.add_argument("--topic", default="insurer.risk-scores", help="topic to read (default: %(default)s)")
    parser.add_argument("--group", default="insurer-quickstart",
                        help="consumer group; its committed offsets say where a restart resumes (default: %(default)s)")
    parser.add_argument("--max-records", type=int, default=0,
                        help="stop after this many valid, new records (default: 0 = run until Ctrl-C)")
    parser.add_argument("--idle-timeout", type=float, default=0.0,
                        help="stop after this many seconds without a record (default: 0 = never)")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA,
                        help="the published JSON Schema (default: docs/contracts/insurer.risk-scores.schema.json)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="a group with no committed offset starts at the oldest record (default: the newest)")
    args = parser.parse_args(argv)
    if args.max_records < 0:
        parser.error("--max-records must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    validator = Draft202012Validator(json.loads(args.schema.read_text()), format_checker=FormatChecker())
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,  # commit after processing, below
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "allow.auto.create.topics": False,
    })
    consumer.subscribe([args.topic])
    dedup = Deduplicator()
    valid = duplicates = invalid = 0
    idle = 0.0
    try:
        while not args.max_records or valid < args.max_records:
            msg: Message | None = consumer.poll(1.0)
            if msg is None:
                idle += 1.0
                if args.idle_timeout and idle >= args.idle_timeout:
                    break
                continue
            idle = 0.0
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if not error.retriable():
                    raise SystemExit(f"kafka error: {error}")
                print(f"kafka warning: {error}", file=sys.stderr)
                continue
            try:
                record = json.loads(msg.value() or b"")
                errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
            except ValueError as exc:
                record, errors = None, [exc]
            if errors:
                invalid += 1
                first = errors[0]
                where = "/".join(map(str, getattr(first, "path", []))) or "<record>"
                print(f"INVALID partition={msg.partition()} offset={msg.offset()} {where}: "
                      f"{getattr(first, 'message', first)}", flush=True)
            elif dedup.seen(record["event_id"]):
                duplicates += 1
                print(f"DUPLICATE {record['event_id']}", flush=True)
            else:
                key = (msg.key() or b"").decode("utf-8", "replace")
                if key != record["rider_pseudonym"]:  # the key is the pseudonym: the rider's partition
                    print(f"note: key {key!r} is not the record's pseudonym", file=sys.stderr)
                valid += 1
                print(f"OK {summary(record)}", flush=True)
            consumer.commit(message=msg, asynchronous=False)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(f"done: {valid} valid, {duplicates} duplicates, {invalid} invalid", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
