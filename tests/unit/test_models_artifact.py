"""Artifact format, loading and clear errors on missing or corrupt files."""

from __future__ import annotations

import json
import shutil

import pytest

from features.catalog import FEATURE_NAMES
from models.artifact import ARTIFACTS_DIR, current_artifact_dir, load_artifact
from models.errors import ModelLoadError
from riskstream.contracts.errors import RiskstreamError
from riskstream.testing.artifacts import tiny_artifact


@pytest.fixture(scope="module")
def artifact_root(tmp_path_factory):
    return tiny_artifact(tmp_path_factory.mktemp("artifacts"), version="v-test")


@pytest.fixture()
def copy_root(artifact_root, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(artifact_root, dst)
    return dst


def test_layout_and_metadata_card(artifact_root):
    vdir = artifact_root / "v-test"
    assert (artifact_root / "CURRENT").read_text().strip() == "v-test"
    assert {p.name for p in vdir.iterdir()} == {"injury.txt", "accident.txt", "metadata.json"}
    meta = json.loads((vdir / "metadata.json").read_text())
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["version"] == "v-test" and meta["horizon_min"] == 60 and meta["created_at"]
    assert len(meta["training_fingerprint"]) == 64
    assert meta["hyperparameters"]["seed"] == 0
    for target in ("injury", "accident"):
        assert meta["calibration"][target]["kind"] in {"beta", "isotonic", "platt", "identity"}
        assert 0.5 < meta["metrics"][target]["roc_auc"] <= 1.0
        assert meta["metrics"][target]["ceiling_roc_auc"] is not None


def test_load_by_root_or_version_dir(artifact_root):
    a = load_artifact(artifact_root)
    b = load_artifact(artifact_root / "v-test")
    assert a.version == b.version == "v-test"
    assert a.feature_names == FEATURE_NAMES and a.horizon_min == 60
    assert current_artifact_dir(artifact_root) == artifact_root / "v-test"


def test_errors_are_project_errors():
    assert issubclass(ModelLoadError, RiskstreamError)


def test_missing_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="no model artifact"):
        load_artifact(tmp_path / "nowhere")


@pytest.mark.parametrize("victim", ["injury.txt", "accident.txt", "metadata.json"])
def test_missing_file_names_the_file(copy_root, victim):
    (copy_root / "v-test" / victim).unlink()
    with pytest.raises(ModelLoadError, match=victim.replace(".", r"\.")):
        load_artifact(copy_root)


@pytest.mark.parametrize("victim", ["injury.txt", "metadata.json"])
def test_corrupt_file(copy_root, victim):
    (copy_root / "v-test" / victim).write_text("{ this is not a model")
    with pytest.raises(ModelLoadError):
        load_artifact(copy_root)


def test_truncated_model(copy_root):
    path = copy_root / "v-test" / "accident.txt"
    path.write_text(path.read_text()[:500])
    with pytest.raises(ModelLoadError, match="accident"):
        load_artifact(copy_root)


def test_feature_list_mismatch(copy_root):
    meta_path = copy_root / "v-test" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["feature_names"] = meta["feature_names"][::-1]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="feature"):
        load_artifact(copy_root)


def test_bad_calibration(copy_root):
    meta_path = copy_root / "v-test" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["calibration"]["injury"] = {"kind": "magic"}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="calibration"):
        load_artifact(copy_root)


@pytest.mark.parametrize("content", ["", "../etc", "missing-version"])
def test_bad_current_pointer(copy_root, content):
    (copy_root / "CURRENT").write_text(content)
    with pytest.raises(ModelLoadError):
        load_artifact(copy_root)


def test_shipped_artifact_loads_if_present():
    if not (ARTIFACTS_DIR / "CURRENT").exists():
        pytest.skip("no shipped artifact yet")
    bundle = load_artifact()
    assert bundle.feature_names == FEATURE_NAMES
    size = sum(p.stat().st_size for p in current_artifact_dir().iterdir())
    assert size < 2_000_000
