"""deploy/k8s/: manifests parse, and the worker gets the settings' env names, the secret and the metrics port."""

from __future__ import annotations

import pytest

from tests.unit.test_deploy_helpers import DEPLOY, settings_env_names

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse deploy/*.yml (test extra)")


@pytest.fixture(scope="module")
def docs() -> dict[tuple[str, str], dict]:
    out = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def _worker(docs: dict) -> dict:
    return docs[("Deployment", "riskstream-worker")]


def test_manifests_have_the_expected_objects(docs: dict) -> None:
    assert set(docs) == {("Deployment", "riskstream-worker"), ("Service", "riskstream"),
                         ("Secret", "riskstream-secrets"), ("ServiceMonitor", "riskstream")}
    for doc in docs.values():
        assert doc["apiVersion"] and doc["metadata"]["labels"]["app.kubernetes.io/name"] == "riskstream"


def test_worker_env_uses_settings_names_and_the_secret(docs: dict) -> None:
    (container,) = _worker(docs)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) <= settings_env_names(), set(env) - settings_env_names()
    assert env["RISKSTREAM_KAFKA__EMBEDDED"]["value"] == "false"
    assert env["RISKSTREAM_METRICS__HOST"]["value"] == "0.0.0.0"
    ref = env["RISKSTREAM_PRIVACY__HMAC_KEY"]["valueFrom"]["secretKeyRef"]
    secret = docs[("Secret", ref["name"])]
    assert ref["key"] in secret["stringData"]
    assert "value" not in env["RISKSTREAM_PRIVACY__HMAC_KEY"]


def test_metrics_port_is_the_same_everywhere(docs: dict) -> None:
    pod = _worker(docs)["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["RISKSTREAM_METRICS__PORT"])
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    service = docs[("Service", "riskstream")]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_selectors_match_the_pods(docs: dict) -> None:
    deployment = _worker(docs)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"], docs[("Service", "riskstream")]["spec"]["selector"]):
        assert selector.items() <= labels.items()
    monitor = docs[("ServiceMonitor", "riskstream")]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= docs[("Service", "riskstream")]["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == "metrics"
