"""Typed settings: alert and premium sections, unknown variables, `riskstream config`, CLI errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from alerts.config import AlertConfig, PremiumConfig
from riskstream.cli.main import main
from riskstream.contracts.errors import ConfigError
from riskstream.contracts.records import WearableReading
from streams.settings import Settings, config_error, is_config_error, unknown_variables

ROOT = Path(__file__).resolve().parents[2]


def test_alert_and_premium_settings_are_typed_and_validated_when_settings_load(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RISKSTREAM_ALERTS__COOLDOWN_S", "600")
    clean_env.setenv("RISKSTREAM_PREMIUM__MAX_CHANGE", "0.05")
    s = Settings()
    assert isinstance(s.alerts, AlertConfig) and isinstance(s.premium, PremiumConfig)
    assert s.alerts.cooldown_s == 600.0 and s.premium.max_change == 0.05
    assert s.alerts.heat_index_danger_c == AlertConfig().heat_index_danger_c  # the rest keep their defaults
    clean_env.setenv("RISKSTREAM_ALERTS__COOLDOWN_S", "-1")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert [e["loc"] for e in info.value.errors()] == [("alerts", "cooldown_s")]


@pytest.mark.parametrize(
    ("variable", "nearest"),
    [
        ("RISKSTREAM_ALERTS__COOLDOWN_TYPO", "RISKSTREAM_ALERTS__COOLDOWN_S"),
        ("RISKSTREAM_WORKER__BATCHSIZE", "RISKSTREAM_WORKER__BATCH_SIZE"),
        ("RISKSTREAM_PREMIUM__MAX_CHANGES", "RISKSTREAM_PREMIUM__MAX_CHANGE"),
        ("RISKSTREAM_FEATURES__HARSH_BRAKE", "RISKSTREAM_FEATURES__HARSH_BRAKE_G"),
        ("RISKSTREAM_ALERT__COOLDOWN_S", "RISKSTREAM_ALERTS__COOLDOWN_S"),  # an unknown section
        ("RISKSTREAM_ALERTS_COOLDOWN_S", "RISKSTREAM_ALERTS__COOLDOWN_S"),  # one underscore too few
        ("riskstream_kafka__brokers", "RISKSTREAM_KAFKA__BROKER"),  # read regardless of case, so checked so too
        ("RISKSTREAM_KAFKA__BROKER__HOST", "RISKSTREAM_KAFKA__BROKER"),  # nothing below a plain value
    ],
)
def test_an_unknown_variable_is_an_error_naming_the_nearest_setting(
    clean_env: pytest.MonkeyPatch, variable: str, nearest: str
) -> None:
    clean_env.setenv(variable, "5")
    with pytest.raises(ConfigError) as info:
        Settings()
    assert str(info.value) == f"{variable.upper()} is not a setting; did you mean {nearest}?"


def test_every_unknown_variable_is_named_at_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RISKSTREAM_ALERTS__COOLDOWN_TYPO", "5")
    clean_env.setenv("RISKSTREAM_WORKER__SCORE_INTERVAL_S", "2")  # removed: it was never read
    clean_env.setenv("RISKSTREAM_KAFKA__BROKER", "k1:9092")  # a good one among them
    with pytest.raises(ConfigError) as info:
        Settings()
    message = str(info.value)
    assert message.startswith("2 unknown settings:")
    assert "RISKSTREAM_WORKER__SCORE_INTERVAL_S is not a setting" in message
    assert "RISKSTREAM_ALERTS__COOLDOWN_TYPO" in message and "KAFKA__BROKER is not" not in message


def test_a_section_given_as_json_refuses_unknown_keys_too(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RISKSTREAM_ALERTS", '{"cooldown_s": 600}')
    assert Settings().alerts.cooldown_s == 600.0
    clean_env.setenv("RISKSTREAM_ALERTS", '{"cooldwn_s": 600}')
    with pytest.raises(ValidationError) as info:
        Settings()
    assert str(config_error(info.value)).splitlines()[1] == (
        "  RISKSTREAM_ALERTS__COOLDWN_S is not a setting; did you mean RISKSTREAM_ALERTS__COOLDOWN_S?")


def test_a_name_like_no_setting_lists_the_sections() -> None:
    assert unknown_variables(["RISKSTREAM_NOPE"]) == [
        "RISKSTREAM_NOPE is not a setting; settings are RISKSTREAM_<SECTION>__<NAME>, SECTION one of kafka, topics, "
        "worker, metrics, privacy, features, alerts, premium, push, console"]


def test_every_known_variable_is_accepted() -> None:
    names = []
    for section, field in Settings.model_fields.items():
        names.append(f"RISKSTREAM_{section.upper()}")
        names += [f"RISKSTREAM_{section}__{name}".upper() for name in field.annotation.model_fields]
    assert len(names) > 150 and unknown_variables(names) == []


def test_config_errors_name_the_variable_and_hide_secrets() -> None:
    with pytest.raises(ValidationError) as info:
        AlertConfig(cooldown_s=-1)  # a section's own error names the section's variable
    assert is_config_error(info.value)
    assert "RISKSTREAM_ALERTS__COOLDOWN_S: Input should be greater than or equal to 0 (got -1)" in str(
        config_error(info.value))
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"privacy": {"hmac_key": "short-secret"}, "alerts": {"cooldown_s": 99999}})
    text = str(config_error(info.value))
    assert "short-secret" not in text and "RISKSTREAM_PRIVACY__HMAC_KEY" in text and "<hidden>" in text
    assert "RISKSTREAM_ALERTS__*: repeat_after_s=14400.0 must be ≥ cooldown_s=99999.0" in text
    with pytest.raises(ValidationError) as info:
        WearableReading.model_validate({})
    assert not is_config_error(info.value)  # a record, not a setting


def test_config_prints_every_effective_value_with_secrets_hidden(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RISKSTREAM_ALERTS__COOLDOWN_S", "600")
    clean_env.setenv("RISKSTREAM_PREMIUM__BAND_CUTS_RELATIVE", "0.7,1.4,2.5")
    clean_env.setenv("RISKSTREAM_PRIVACY__HMAC_KEY", "a-very-secret-key-123")
    clean_env.setenv("RISKSTREAM_PUSH__WEBHOOK_URL", "https://user:pa55@push.example/hook?token=t0k")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    for section, field in Settings.model_fields.items():
        assert set(printed[section]) == set(field.annotation.model_fields), section
    assert printed["alerts"]["cooldown_s"] == 600.0 and printed["alerts"]["max_alerts_per_hour"] == 1
    assert printed["premium"]["band_cuts_relative"] == [0.7, 1.4, 2.5]
    assert printed["privacy"]["hmac_key"] == printed["push"]["webhook_secret"] == "**********"
    assert printed["push"]["webhook_url"] == "https://user:***@push.example/hook?token=***"
    assert "a-very-secret-key-123" not in out and "pa55" not in out and "t0k" not in out


def test_loading_settings_does_not_import_river_or_lightgbm() -> None:
    code = ("import sys; from streams.settings import Settings; s = Settings(); "
            "assert s.worker.online_estimator == 'amf'; "
            "print(sorted(m for m in ('river', 'lightgbm', 'faust', 'pandas') if m in sys.modules))")
    env = {**_env_without_settings(), "RISKSTREAM_WORKER__ONLINE_ESTIMATOR": "amf"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_the_estimator_names_are_the_online_models_estimators() -> None:
    from models.estimators import DEFAULT_ESTIMATOR, ESTIMATOR_NAMES
    from models.online import ESTIMATORS

    assert tuple(ESTIMATORS) == ESTIMATOR_NAMES and DEFAULT_ESTIMATOR in ESTIMATORS
    assert Settings.model_fields["worker"].annotation.model_fields["online_estimator"].default == DEFAULT_ESTIMATOR


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        (["worker"], {"RISKSTREAM_ALERTS__COOLDOWN_TYPO": "5"}, "did you mean RISKSTREAM_ALERTS__COOLDOWN_S?"),
        (["worker"], {"RISKSTREAM_KAFKA__EMBEDDED": "false"}, "RISKSTREAM_PRIVACY__HMAC_KEY is the demo key"),
        (["push"], {"RISKSTREAM_PUSH__TIMEOUT_S": "-1"}, "RISKSTREAM_PUSH__TIMEOUT_S: Input should be greater"),
        (["push"], {"RISKSTREAM_KAFKA__EMBEDDED": "false"}, "RISKSTREAM_PUSH__WEBHOOK_SECRET is the demo key"),
        (["config"], {"RISKSTREAM_WORKER__BATCHSIZE": "10"}, "did you mean RISKSTREAM_WORKER__BATCH_SIZE?"),
        (["evaluate-alerts", "--seeds", "1"], {"RISKSTREAM_ALERTS__COOLDOWN_S": "99999"},
         "RISKSTREAM_ALERTS__*: repeat_after_s=14400.0 must be ≥ cooldown_s=99999.0"),
        (["fairness"], {"RISKSTREAM_PREMIUM__MAX_CHANGE": "2"}, "RISKSTREAM_PREMIUM__MAX_CHANGE: Input should be less"),
        (["evaluate", "--artifact", "/nonexistent"], {}, "no model artifact at /nonexistent"),  # its own parser
    ],
)
def test_a_configuration_error_is_one_message_and_exit_status_2(
    command: list[str], env: dict[str, str], expected: str
) -> None:
    run = subprocess.run([sys.executable, "-m", "riskstream.cli.main", *command], capture_output=True, text=True,
                         env={**_env_without_settings(), **env}, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and expected in run.stderr, run.stderr
    assert run.stderr.startswith(f"riskstream {command[0]}: ")


def test_every_variable_the_docs_and_deploy_files_name_is_a_setting() -> None:
    # a name followed by * or … stands for several; one shown as the example of an error is not a setting
    token = re.compile(r"RISKSTREAM_[A-Za-z0-9_]*[A-Za-z0-9](?![A-Za-z0-9_*…<])(?! is not a setting)")
    code = (p for d in ("streams", "models", "features", "alerts", "riskstream") for p in (ROOT / d).rglob("*.py"))
    deploy = (p for p in (ROOT / "deploy").rglob("*") if p.is_file())
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *deploy, *(p for p in code if p.name != "settings.py")]
    for path in files:
        names = set(token.findall(path.read_text(errors="ignore")))
        assert unknown_variables(names) == [], path


def test_every_setting_is_read() -> None:
    """No dead settings: each field is read somewhere (alert thresholds are read by composed names, alerts.signals)."""
    source = "\n".join(p.read_text() for d in ("streams", "models", "features", "alerts", "riskstream")
                       for p in (ROOT / d).rglob("*.py") if p.name not in ("settings.py", "config.py"))
    unread = [f"{section}.{name}" for section, field in Settings.model_fields.items() if section != "alerts"
              for name in field.annotation.model_fields if not re.search(rf"\.{name}\b", source)]
    assert unread == []


def _env_without_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("RISKSTREAM_")}
