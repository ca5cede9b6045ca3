"""deploy/prometheus and deploy/grafana: promtool checks, and every metric they read is one the worker exports."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.unit.test_deploy_helpers import DEPLOY, exported_names, metric_names

PROM = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "riskstream.json"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool not installed: `make deb-deps` (Debian package prometheus) installs it")
    return subprocess.run([exe, *args], cwd=PROM, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("config", ["prometheus.yml", "compose.yml"])
def test_promtool_check_config(config: str) -> None:
    out = promtool("check", "config", config)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", "rules.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    tests = sorted(str(p.relative_to(PROM)) for p in (PROM / "tests").glob("*.yml"))
    assert tests
    out = promtool("test", "rules", *tests)
    assert out.returncode == 0, out.stdout + out.stderr


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] if p["type"] != "row" for t in p["targets"]]


def test_dashboard_panels_read_only_exported_metrics() -> None:
    exported = exported_names()
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    for title, expr in exprs:
        names = metric_names(expr)
        assert names or "up{" in expr, title
        assert names <= exported, (title, names - exported)


def test_dashboard_covers_what_the_safety_team_asked_for() -> None:
    used = set().union(*(metric_names(e) for _, e in dashboard_exprs()))
    for name in ("riskstream_riders_online", "riskstream_riders_by_risk_band", "riskstream_alerts_total",
                 "riskstream_escalations_open", "riskstream_escalations_total", "riskstream_incidents_total", "riskstream_risk_score_bucket",
                 "riskstream_online_model_metric", "riskstream_model_info", "riskstream_conservative_mode",
                 "riskstream_consumer_lag_records", "riskstream_dead_letters_total",
                 "riskstream_event_lateness_seconds_bucket", "riskstream_processing_latency_seconds_bucket"):
        assert name in used, name


def test_dashboard_ids_are_unique_and_panels_do_not_overlap() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, p["title"]
        cells |= mine


def test_rules_read_only_exported_metrics_and_have_runbook_text() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse deploy/*.yml (test extra)")
    exported = exported_names()
    rules = [r for g in yaml.safe_load((PROM / "rules.yml").read_text())["groups"] for r in g["rules"]]
    assert len(rules) >= 6
    for rule in rules:
        assert metric_names(rule["expr"]) <= exported, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
