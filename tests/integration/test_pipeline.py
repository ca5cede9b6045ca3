"""End to end on the real embedded broker: simulator → real worker process → output topics and /metrics."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertConfig, PremiumConfig
from riskstream.testing.workers import (
    free_port,
    metric_value,
    produce,
    read_topic,
    scrape,
    start_worker,
    wait_until,
)
from streams.parsing import DLQ_EXCERPT_CHARS

pytestmark = pytest.mark.integration

ROLES = ("wearable", "trip", "weather", "incidents", "responses", "alerts", "escalations", "risk_scores", "audit",
         "dlq", "acknowledgements")


def worker_env(broker: Any, tmp: Path, app: str = "riskstream-test",
               max_payload_bytes: int | None = 64 * 1024) -> dict[str, str]:
    """A worker's environment with its own app id and topics (``max_payload_bytes`` None: the default limit)."""
    tag = uuid.uuid4().hex[:6]
    env = {
        "RISKSTREAM_KAFKA__BROKER": broker.url,
        "RISKSTREAM_METRICS__PORT": str(free_port()),
        "RISKSTREAM_WORKER__STATE_DIR": str(tmp / "state"),
        "RISKSTREAM_WORKER__APP_ID": f"{app}-{tag}",
    }
    if max_payload_bytes is not None:
        env["RISKSTREAM_WORKER__MAX_PAYLOAD_BYTES"] = str(max_payload_bytes)
    for role in ROLES:
        env[f"RISKSTREAM_TOPICS__{role.upper()}"] = f"{tag}.{role}"
    return env


#: The key of one malformed record: what a producer could use to forge a line in the worker's log.
FORGING_KEY = b"rider-bad\nFORGED 2026-07-15 02:00:00,000 ERROR streams.processor: fake"


def topic(env: dict[str, str], role: str) -> str:
    return env[f"RISKSTREAM_TOPICS__{role.upper()}"]


def bad_wearables(good: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(expected error class, payload) of malformed wearable records."""
    # an out-of-range optional measurement alone is used as unknown (streams/parsing.py): these break a required field
    hr400 = dict(good, event_id="bad-hr", heart_rate_bpm=400, rider_id="")
    future = dict(good, event_id="bad-version", schema_version=99)
    nan = json.dumps(dict(good, event_id="bad-nan", ts=float("nan"), accel_var=float("nan")))  # the NaN literal
    huge = dict(good, event_id="bad-huge", padding="x" * (128 * 1024))
    return [
        ("invalid_json", b'{"event_id": "broken",'),
        ("validation_error", json.dumps(hr400).encode()),
        ("unsupported_schema_version", json.dumps(future).encode()),
        ("validation_error", nan.encode()),
        ("too_large", json.dumps(huge).encode()),
        ("not_an_object", b"[1, 2, 3]"),
        ("validation_error", json.dumps({"event_id": "no-fields", "ts": good["ts"]}).encode()),
    ]


@pytest.fixture(scope="module")
def pipeline_run(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run a worker on a heat-wave simulation with malformed records mixed in; collect every output."""
    from riskstream.cli.producer import produce as produce_records
    from riskstream.simulation import FleetSimulator, SimConfig
    from streams.settings import Settings
    from streams.topics import ensure_topics

    tmp = tmp_path_factory.mktemp("pipeline")
    env = worker_env(broker, tmp)
    env["RISKSTREAM_WORKER__EVENT_LOOP"] = "uvloop"  # the other integration tests run on the default, asyncio's
    port = int(env["RISKSTREAM_METRICS__PORT"])
    worker = start_worker(env, tmp / "worker.log")
    try:
        wait_until(lambda: scrape(port), 90, what="the worker's metrics endpoint", procs=(worker,))
        settings = Settings.model_validate({
            "kafka": {"broker": broker.url},
            "topics": {role: topic(env, role) for role in ROLES},
        })
        asyncio.run(ensure_topics(settings))
        sim = FleetSimulator(SimConfig(riders=8, seed=11, scenario="heatwave"))
        records = list(sim.records(20 * 60))
        asyncio.run(produce_records(settings, records))
        good = next(r.value for r in records if r.role == "wearable").model_dump(mode="json")
        bad = bad_wearables(good)
        asyncio.run(produce(broker.bootstrap_servers, topic(env, "wearable"),
                            [(FORGING_KEY if cls == "invalid_json" else b"rider-bad", payload)
                             for cls, payload in bad]))
        bootstrap = broker.bootstrap_servers
        dlq = asyncio.run(read_topic(bootstrap, topic(env, "dlq"), min_count=len(bad), timeout=120))
        n_inputs = sum(1 for r in records if r.role != "incidents") + len(bad)

        def all_consumed() -> bool:
            text = scrape(port) or ""
            return metric_value(text, "riskstream_records_consumed_total") >= n_inputs

        wait_until(all_consumed, 180, what="the worker to consume every input record", procs=(worker,))
        alerts = asyncio.run(read_topic(bootstrap, topic(env, "alerts"), min_count=1, timeout=60))
        scores = asyncio.run(read_topic(bootstrap, topic(env, "risk_scores"), min_count=1, timeout=60))
        audit = asyncio.run(read_topic(bootstrap, topic(env, "audit"), min_count=len(alerts) + len(scores),
                                       timeout=60))

        def gauges_published() -> str | None:  # gauges are refreshed on a 5 s timer
            text = scrape(port) or ""
            return text if metric_value(text, "riskstream_riders_by_risk_band") >= 1 else None

        metrics_text = wait_until(gauges_published, 30, what="the risk-band gauges", procs=(worker,))
        alive = worker.alive()
    finally:
        worker.stop()
    return {"env": env, "bad": bad, "dlq": dlq, "alerts": alerts, "scores": scores, "audit": audit,
            "metrics": metrics_text, "alive": alive, "log": worker.log(), "records": records}


def test_bad_records_become_dead_letters_and_the_worker_keeps_running(pipeline_run: dict[str, Any]) -> None:
    dlq = [r["value"] for r in pipeline_run["dlq"]]
    assert pipeline_run["alive"], pipeline_run["log"][-3000:]
    expected = Counter(cls for cls, _ in pipeline_run["bad"])
    assert Counter(d["error_class"] for d in dlq) == expected
    wearable_topic = topic(pipeline_run["env"], "wearable")
    for letter in dlq:
        assert letter["source_topic"] == wearable_topic
        assert letter["partition"] >= 0 and letter["offset"] >= 0
        assert letter["reason"]
        assert letter["payload_size"] > 0 and len(letter["payload"]) <= DLQ_EXCERPT_CHARS
    # the excerpt keeps the record's ids, not the rider's heart rate
    hr400 = next(d["payload"] for d in dlq if '"event_id": "bad-hr"' in d["payload"])
    assert json.loads(hr400)["heart_rate_bpm"] == "<number>" and "400" not in hr400
    # the log names topic, partition and offset of each
    assert f"dead letter from {wearable_topic}[" in pipeline_run["log"]
    # and a key with a newline cannot forge a log line of its own
    assert "key=rider-bad\\nFORGED" in pipeline_run["log"]
    assert not any(line.startswith("FORGED") for line in pipeline_run["log"].splitlines())


def test_heat_wave_sends_heat_alerts_in_both_languages(pipeline_run: dict[str, Any]) -> None:
    alerts = [r["value"] for r in pipeline_run["alerts"]]
    heat = [a for a in alerts if a["kind"] == "heat"]
    assert heat, f"no heat alert among {Counter(a['kind'] for a in alerts)}"
    for alert in heat:
        assert alert["message"]["zh-CN"] and alert["message"]["en"]
        assert alert["reasons"] and all(r["code"] for r in alert["reasons"])
        assert alert["model_versions"]
    # cooldown: the same rider gets the same kind at the same severity at most once per 15 min of event time
    seen: dict[tuple[str, str, str], list[float]] = {}
    for alert in alerts:
        when = datetime.fromisoformat(alert["ts"].replace("Z", "+00:00")).timestamp()
        seen.setdefault((alert["rider_id"], alert["kind"], alert["severity"]), []).append(when)
    cooldown_s = AlertConfig().cooldown_s
    for key, times in seen.items():
        times.sort()
        assert all(b - a >= cooldown_s for a, b in zip(times, times[1:])), (key, times)


def test_insurer_records_are_pseudonymous_and_carry_reasons(pipeline_run: dict[str, Any]) -> None:
    scores = pipeline_run["scores"]
    assert scores
    rider_ids = {r.key for r in pipeline_run["records"] if r.role == "trip"}
    for rec in scores:
        value, raw = rec["value"], json.dumps(rec["value"])
        assert rec["key"].decode() == value["rider_pseudonym"]
        assert not any(rider in raw for rider in rider_ids)
        for forbidden in ("lat", "lon", "heart_rate", "skin_temp", "rider_id"):
            assert forbidden not in value
        assert 0.7 <= value["premium_multiplier"] <= 1.5
        # a new rider starts at the class price and the run is inside the first pricing period (±10 %)
        assert abs(value["premium_multiplier"] - 1.0) <= PremiumConfig().max_change + 1e-9
        assert value["reasons"] and value["model_versions"]
        codes = {r["code"] for r in value["reasons"]}
        assert codes & {"RISK_UP", "RISK_DOWN", "RISK_STABLE", "CONSERVATIVE_HOLD"}, codes


def test_one_audit_record_per_decision(pipeline_run: dict[str, Any]) -> None:
    audit = [r["value"] for r in pipeline_run["audit"]]
    types = Counter(a["decision_type"] for a in audit)
    assert types["alert"] == len(pipeline_run["alerts"])
    assert types["premium_signal"] == len(pipeline_run["scores"])
    alert_ids = {r["value"]["alert_id"] for r in pipeline_run["alerts"]}
    assert alert_ids == {a["decision_id"] for a in audit if a["decision_type"] == "alert"}


def test_metrics_endpoint_reports_the_run(pipeline_run: dict[str, Any]) -> None:
    text = pipeline_run["metrics"]
    wearable_topic = topic(pipeline_run["env"], "wearable")
    assert metric_value(text, "riskstream_records_consumed_total", topic=wearable_topic, outcome="processed") > 0
    assert metric_value(text, "riskstream_dead_letters_total", reason="too_large") == 1
    assert metric_value(text, "riskstream_alerts_total", kind="heat") >= 1
    assert metric_value(text, "riskstream_processing_latency_seconds_count") > 0
    assert metric_value(text, "riskstream_model_info") >= 1
    bands = sum(metric_value(text, "riskstream_riders_by_risk_band", band=b)
                for b in ("low", "moderate", "high", "severe"))
    assert bands >= 1


def test_the_worker_runs_on_uvloop(pipeline_run: dict[str, Any]) -> None:
    """worker.event_loop=uvloop puts the agents on uvloop (the old call to mode.loop.use always failed)."""
    assert "telemetry agent running on the uvloop event loop" in pipeline_run["log"]
