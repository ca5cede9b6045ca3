"""deploy/compose.yml and deploy/Dockerfile, read without Docker: services, wiring, env names."""

from __future__ import annotations

import pytest

from tests.unit.test_deploy_helpers import DEPLOY, settings_env_names

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse deploy/*.yml (test extra)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text())


def test_services_are_kafka_worker_prometheus_grafana(compose: dict) -> None:
    assert set(compose["services"]) == {"kafka", "worker", "prometheus", "grafana"}
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")


def test_kafka_runs_kraft_and_advertises_the_name_the_worker_uses(compose: dict) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    worker_broker = compose["services"]["worker"]["environment"]["RISKSTREAM_KAFKA__BROKER"]
    host_port = worker_broker.split("://", 1)[-1]
    assert f"PLAINTEXT://{host_port}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_worker_env_names_are_settings_and_point_at_the_real_cluster(compose: dict) -> None:
    worker = compose["services"]["worker"]
    env = worker["environment"]
    known = settings_env_names()
    assert set(env) <= known, set(env) - known
    assert env["RISKSTREAM_KAFKA__EMBEDDED"] == "false"
    assert env["RISKSTREAM_METRICS__HOST"] == "0.0.0.0"
    assert "RISKSTREAM_PRIVACY__HMAC_KEY" in env
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_prometheus_scrapes_the_worker_port_and_loads_the_rules(compose: dict) -> None:
    port = compose["services"]["worker"]["environment"]["RISKSTREAM_METRICS__PORT"]
    prom = compose["services"]["prometheus"]
    mounts = {dst: src for src, dst in (v.rsplit(":", 1)[0].split(":", 1) for v in prom["volumes"] if v.startswith("./"))}
    config_src = mounts["/etc/prometheus/prometheus.yml"]
    assert mounts["/etc/prometheus/rules.yml"] == "./prometheus/rules.yml"
    config = yaml.safe_load((DEPLOY / config_src).read_text())
    assert config["rule_files"] == ["rules.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "riskstream"  # the rules select up{job="riskstream"}
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and str(sd["port"]) == port


def test_grafana_mounts_provisioning_and_dashboards(compose: dict) -> None:
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    for v in volumes:
        assert (DEPLOY / v.split(":")[0]).is_dir(), v
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/riskstream.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"


def test_dockerfile_installs_the_package_and_serves_metrics_outside_the_container() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.11-slim" in text
    assert "pip install --no-cache-dir ." in text
    import tomllib

    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert "riskstream" in packages
    for package in packages:  # every package the wheel installs is in the image
        assert f"COPY {package} ./{package}" in text
    assert "RISKSTREAM_METRICS__HOST=0.0.0.0" in text and "EXPOSE 9464" in text
    env_names = {w.split("=")[0] for w in text.split() if w.startswith("RISKSTREAM_")}
    assert env_names <= settings_env_names()
