"""Secrets: production refuses shipped, placeholder and short keys; no credentials in printed config or logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from riskstream.cli.main import main
from riskstream.contracts.errors import ConfigError
from streams.settings import MIN_PRODUCTION_SECRET_BYTES, SHIPPED_SECRETS, Settings, redact_url

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * MIN_PRODUCTION_SECRET_BYTES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m riskstream.cli.main COMMAND`` in production mode against a port where no broker listens."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")}
    base.update(RISKSTREAM_KAFKA__EMBEDDED="false", RISKSTREAM_KAFKA__BROKER=f"127.0.0.1:{_free_port()}",
                RISKSTREAM_METRICS__PORT="0", RISKSTREAM_PUSH__METRICS_PORT="0", PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "riskstream.cli.main", command], capture_output=True, text=True,
                          env=base, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(
    ("command", "variable", "env"),
    [
        ("worker", "RISKSTREAM_PRIVACY__HMAC_KEY", {}),  # the shipped default
        ("worker", "RISKSTREAM_PRIVACY__HMAC_KEY",
         {"RISKSTREAM_PRIVACY__HMAC_KEY": "replace-me-with-a-random-32-byte-hex-key"}),  # the k8s placeholder
        ("worker", "RISKSTREAM_PRIVACY__HMAC_KEY", {"RISKSTREAM_PRIVACY__HMAC_KEY": "sixteen-bytes-ok"}),  # short
        ("push", "RISKSTREAM_PUSH__WEBHOOK_SECRET", {}),
        ("push", "RISKSTREAM_PUSH__WEBHOOK_SECRET", {"RISKSTREAM_PUSH__WEBHOOK_SECRET": "short"}),
    ],
)
def test_production_refuses_demo_placeholder_and_short_secrets(command: str, variable: str,
                                                               env: dict[str, str]) -> None:
    out = _run(command, **env)
    assert out.returncode == 2, out.stderr[-2000:]
    assert variable in out.stderr and "secrets.token_urlsafe(32)" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_a_good_key_passes_the_check_and_the_embedded_demo_keeps_its_keys(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RISKSTREAM_KAFKA__EMBEDDED", "false")
    clean_env.setenv("RISKSTREAM_PRIVACY__HMAC_KEY", GOOD_KEY)
    clean_env.setenv("RISKSTREAM_PUSH__WEBHOOK_SECRET", GOOD_KEY)
    Settings().check_secrets("privacy.hmac_key", "push.webhook_secret")
    clean_env.setenv("RISKSTREAM_KAFKA__EMBEDDED", "true")
    clean_env.delenv("RISKSTREAM_PRIVACY__HMAC_KEY")
    Settings().check_secrets("privacy.hmac_key", "push.webhook_secret")


def test_a_key_too_short_for_any_pseudonym_is_refused_even_in_the_demo(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RISKSTREAM_PRIVACY__HMAC_KEY", "short")
    assert main(["config"]) == 2  # refused at start, not at every decision later


def test_the_k8s_placeholder_is_refused() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "secret.yaml").read_text()))
    placeholder = next(d for d in docs if d and d.get("kind") == "Secret")["stringData"]["hmac-key"]
    settings = Settings(kafka={"embedded": False}, privacy={"hmac_key": placeholder})
    with pytest.raises(ConfigError, match="RISKSTREAM_PRIVACY__HMAC_KEY"):
        settings.check_secrets("privacy.hmac_key")
    assert placeholder in SHIPPED_SECRETS


def test_config_hides_credentials_in_urls(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("RISKSTREAM_PUSH__WEBHOOK_URL", "https://acme:hunter2-token@push.example/v1/hook")
    assert main(["config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "hunter2-token" not in json.dumps(printed)
    assert printed["push"]["webhook_url"] == "https://acme:***@push.example/v1/hook"
    assert redact_url("https://tok@h/p") == "https://***@h/p"


def test_an_invalid_secret_or_url_is_not_echoed(clean_env: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("RISKSTREAM_PRIVACY__HMAC_KEY", "shortsecret")
    clean_env.setenv("RISKSTREAM_PUSH__WEBHOOK_URL", "ftp://acme:pw-123@push.example/")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "RISKSTREAM_PRIVACY__HMAC_KEY" in err and "RISKSTREAM_PUSH__WEBHOOK_URL" in err
    assert "shortsecret" not in err and "pw-123" not in err
