"""Settings from the environment, CLI help and errors, broker launcher errors, parsing, schemas."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from riskstream.cli.main import build_parser, main
from riskstream.contracts.errors import BrokerError, InputError
from riskstream.contracts.export import topic_schemas
from riskstream.contracts.records import ENVELOPE_MODELS, TOPIC_MODELS, WearableReading
from streams.broker import EmbeddedBroker, kafka_metadata_ok, port_is_free
from streams.parsing import DLQ_EXCERPT_CHARS, dead_letter, parse_record
from streams.settings import Settings

GOOD = {"event_id": "w1", "ts": "2026-07-15T02:00:00Z", "rider_id": "r1", "heart_rate_bpm": 120,
        "skin_temp_c": 34.0, "accel_peak_g": 1.3, "accel_mean_g": 1.0, "accel_var": 0.02}


def test_settings_from_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RISKSTREAM_KAFKA__BROKER", "k1:9092;k2:9092")
    clean_env.setenv("RISKSTREAM_KAFKA__EMBEDDED", "false")
    clean_env.setenv("RISKSTREAM_FEATURES__HARSH_BRAKE_G", "0.42")
    clean_env.setenv("RISKSTREAM_PRIVACY__HMAC_KEY", "a-very-secret-key-123")
    s = Settings()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.kafka.embedded is False
    assert s.features.harsh_brake_g == 0.42
    dumped = json.dumps(s.public_dump())
    assert "a-very-secret-key-123" not in dumped and "**********" in dumped


def test_config_error_names_the_variable(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("RISKSTREAM_METRICS__PORT", "not-a-port")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "RISKSTREAM_METRICS__PORT" in err and "not-a-port" in err


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"demo", "broker", "worker", "simulate", "replay", "train", "schemas", "config"} <= set(sub.choices)
    for name, sub_parser in sub.choices.items():
        assert sub_parser.format_help().strip(), name


def test_console_script_help_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "riskstream.cli.main", "--help"], capture_output=True, text=True, check=True)
    assert "riskstream demo" in out.stdout


def test_schemas_export_matches_committed_contracts(tmp_path: Path) -> None:
    from riskstream.contracts.export import export_schemas

    written = export_schemas(tmp_path)
    assert len(written) == len(TOPIC_MODELS) + len(ENVELOPE_MODELS)
    committed = Path(__file__).resolve().parents[2] / "docs" / "contracts"
    for path in written:
        assert (committed / path.name).read_text() == path.read_text(), f"regenerate {path.name}: riskstream schemas"
    assert all(s["properties"]["schema_version"] for s in topic_schemas().values())


@pytest.mark.parametrize(
    ("raw", "error_class"),
    [
        (b"", "empty"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b'"a string"', "not_an_object"),
        (json.dumps(dict(GOOD, schema_version=2)).encode(), "unsupported_schema_version"),
        (json.dumps(dict(GOOD, schema_version=[1])).encode(), "unsupported_schema_version"),
        (json.dumps(dict(GOOD, schema_version={"v": 1})).encode(), "unsupported_schema_version"),
        (json.dumps(dict(GOOD, rider_id="")).encode(), "validation_error"),
        (json.dumps(dict(GOOD, heart_rate_bpm="fast")).encode(), "validation_error"),  # wrong type: not a glitch
        (json.dumps(dict(GOOD, pad="x" * 2048)).encode(), "too_large"),
    ],
)
def test_parse_errors_have_stable_classes(raw: bytes, error_class: str) -> None:
    with pytest.raises(InputError) as info:
        parse_record(WearableReading, raw, max_bytes=1024)
    assert info.value.error_class == error_class
    assert isinstance(info.value, ValueError)


def test_parse_accepts_a_good_record_and_reads_naive_times_as_utc() -> None:
    rec = parse_record(WearableReading, json.dumps(dict(GOOD, ts="2026-07-15T02:00:00")).encode(), 1024)
    assert rec.epoch == 1784080800.0


def test_dead_letter_keeps_a_bounded_copy() -> None:
    raw = b"x" * (DLQ_EXCERPT_CHARS * 300)
    letter = dead_letter(source_topic="t", partition=1, offset=2, key=b"r1", raw=raw,
                         error=InputError("too_large", "big"))
    assert len(letter.payload) <= DLQ_EXCERPT_CHARS and letter.payload_size == len(raw)
    assert (letter.source_topic, letter.partition, letter.offset, letter.key) == ("t", 1, 2, "r1")


def test_broker_refuses_a_taken_port_with_advice() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        assert not kafka_metadata_ok("127.0.0.1", port, timeout=0.3)
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port} is taken .*RISKSTREAM_KAFKA__BROKER"):
            EmbeddedBroker("127.0.0.1", port).start()
