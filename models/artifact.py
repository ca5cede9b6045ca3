"""The shipped model artifact: two LightGBM models, their calibration and a metadata card.

Layout (one directory per version, plus a pointer file)::

    models/artifacts/CURRENT               -> "<version>"
    models/artifacts/<version>/injury.txt   LightGBM model text
    models/artifacts/<version>/accident.txt
    models/artifacts/<version>/metadata.json

``metadata.json`` holds the version, creation time, the feature names in input order,
the horizon, a sha256 fingerprint of the training frame, the hyper-parameters, the
held-out metrics and the calibration maps per target.

>>> cal = Calibrator("isotonic", {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 0.9]})
>>> cal.apply([0.25, 0.75, 2.0]).round(2).tolist()
[0.1, 0.55, 0.9]
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.catalog import FEATURE_NAMES
from models.errors import ModelLoadError

#: The two targets, each a probability of an incident within the horizon.
TARGETS: tuple[str, ...] = ("injury", "accident")
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
#: A served probability is never exactly 0 ("never silently safe") nor 1 (no certainty from a model):
#: every calibrator's output is clipped to [SERVED_P_MIN, SERVED_P_MAX], a numerical guard far outside
#: the range the calibration fleet supports (its lowest and highest served p are on the card).
SERVED_P_MIN = 1e-6
SERVED_P_MAX = 1.0 - 1e-6
CURRENT_FILE = "CURRENT"
METADATA_FILE = "metadata.json"


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw model probability to a calibrated one.

    ``kind`` is ``"isotonic"`` (``params`` = thresholds ``x`` → ``y``, linear between,
    clipped outside, as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``),
    ``"platt"`` (``params`` = ``a``, ``b``: ``p = 1/(1+exp(-(a·logit(raw)+b)))``), ``"beta"``
    (``params`` = ``a``, ``b``, ``c``: ``p = 1/(1+exp(-(a·ln raw − b·ln(1 − raw) + c)))``, Kull et al. 2017,
    monotone for a, b ≥ 0; smooth in the tails; an optional ``cap`` bounds it by what the highest tail bin of its
fitting data supports, :func:`models.fit.tail_cap`) or ``"identity"``. An optional ``hazard_scale_correction`` k maps a probability learned
    on data simulated at k times the hazard back to scale 1: ``p₁ = 1 − (1 − p_k)^(1/k)``.
    """

    kind: str = "identity"
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, raw: Iterable[float] | np.ndarray) -> np.ndarray:
        p = np.asarray(raw, dtype=float)
        if self.kind == "isotonic":
            out = np.interp(p, np.asarray(self.params["x"], float), np.asarray(self.params["y"], float))
        elif self.kind == "platt":
            q = np.clip(p, 1e-9, 1 - 1e-9)
            z = float(self.params["a"]) * np.log(q / (1 - q)) + float(self.params["b"])
            out = 1.0 / (1.0 + np.exp(-z))
        elif self.kind == "beta":
            q = np.clip(p, 1e-12, 1 - 1e-12)
            z = float(self.params["a"]) * np.log(q) - float(self.params["b"]) * np.log1p(-q) + float(self.params["c"])
            out = 1.0 / (1.0 + np.exp(-z))
            if "cap" in self.params:  # the highest tail bin's observed rate + its interval (models.fit.tail_cap)
                out = np.minimum(out, float(self.params["cap"]))
        elif self.kind == "identity":
            out = p
        else:
            raise ValueError(f"unknown calibration kind {self.kind!r}")
        k = float(self.params.get("hazard_scale_correction", 1.0))
        if k != 1.0:  # trained on data simulated at hazard × k: p₁ = 1 − (1 − p_k)^(1/k)
            out = 1.0 - (1.0 - np.clip(out, 0.0, 1.0)) ** (1.0 / k)
        return np.clip(out, SERVED_P_MIN, SERVED_P_MAX)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibrator:
        data = dict(data)
        kind = data.pop("kind")
        cal = cls(kind, data)
        cal.apply([0.5])  # fail at load time, not at scoring time
        return cal


@dataclass(frozen=True)
class ModelBundle:
    """A loaded artifact: boosters and calibrators per target, plus the metadata card."""

    version: str
    path: Path | None
    boosters: dict[str, lgb.Booster]
    calibrators: dict[str, Calibrator]
    metadata: dict[str, Any]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.metadata["feature_names"])

    @property
    def horizon_min(self) -> int:
        return int(self.metadata["horizon_min"])

    def population_rate(self, target: str) -> float | None:
        """Mean served probability of ``target`` within the horizon over a held-out fleet at scale 1.

        This is the population the calibration speaks for: the class mean a premium is
        priced against and the base rate alert thresholds are set relative to. It comes
        from the card's ``population`` block (written by ``riskstream evaluate --update-card``);
        ``None`` when the card has none.
        """
        value = self.metadata.get("population", {}).get(target, {}).get("mean_p")
        return float(value) if value is not None and math.isfinite(value) and 0.0 < value < 1.0 else None


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of a training frame's values and column names (order-sensitive)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _json_safe(value: Any) -> Any:
    """NaN/inf → None, numpy scalars → Python, recursively (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def save_artifact(
    out_dir: Path,
    version: str,
    boosters: dict[str, lgb.Booster],
    calibrators: dict[str, Calibrator],
    metadata: dict[str, Any],
    set_current: bool = True,
) -> Path:
    """Write ``out_dir/<version>/`` and, if ``set_current``, point ``out_dir/CURRENT`` at it."""
    target_dir = Path(out_dir) / version
    target_dir.mkdir(parents=True, exist_ok=True)
    for target in TARGETS:
        boosters[target].save_model(str(target_dir / f"{target}.txt"))
    card = {
        "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "feature_names": list(FEATURE_NAMES),
        "targets": list(TARGETS),
        "lightgbm_version": lgb.__version__,
        **metadata,
        "calibration": {t: calibrators[t].to_json() for t in TARGETS},
    }
    (target_dir / METADATA_FILE).write_text(json.dumps(_json_safe(card), indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    if set_current:
        (Path(out_dir) / CURRENT_FILE).write_text(version + "\n")
    return target_dir


def update_card(artifact_dir: Path, blocks: dict[str, Any]) -> Path:
    """Set top-level ``blocks`` in ``artifact_dir/metadata.json`` (atomically); the models are not touched.

    Used by ``riskstream evaluate --update-card`` to record held-out metrics and the served
    population next to the model they describe. The new mtime makes running workers reload it.
    """
    meta_path = Path(artifact_dir) / METADATA_FILE
    card = json.loads(meta_path.read_text())
    card.update(blocks)
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_json_safe(card), indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    tmp.replace(meta_path)
    return meta_path


def current_artifact_dir(path: Path | None = None) -> Path:
    """The version directory ``path`` names: itself if it holds ``metadata.json``, else ``path/CURRENT``'s target."""
    root = Path(path) if path is not None else ARTIFACTS_DIR
    if (root / METADATA_FILE).exists():
        return root
    current = root / CURRENT_FILE
    if not current.exists():
        raise ModelLoadError(
            f"no model artifact at {root}: neither {METADATA_FILE} nor {CURRENT_FILE} exists — "
            "train one with `riskstream train` or point to an artifact directory"
        )
    version = current.read_text().strip()
    if not version or "/" in version or version.startswith("."):
        raise ModelLoadError(f"{current} does not name a version directory (content: {version!r})")
    return root / version


def load_artifact(path: Path | None = None) -> ModelBundle:
    """Load an artifact directory, or the one ``CURRENT`` names under ``path`` (default: shipped).

    Raises :class:`~models.errors.ModelLoadError` naming the file when anything is missing,
    unreadable, or was trained on a different feature list than :data:`FEATURE_NAMES`.
    """
    vdir = current_artifact_dir(path)
    meta_path = vdir / METADATA_FILE
    try:
        metadata = json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{meta_path} is missing — the artifact is incomplete; retrain or restore it") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{meta_path} is not valid JSON ({exc}) — the artifact is corrupt") from exc
    if not isinstance(metadata, dict) or tuple(metadata.get("feature_names", ())) != FEATURE_NAMES:
        raise ModelLoadError(
            f"{meta_path} lists different feature names than features.catalog.FEATURE_NAMES — "
            "the artifact was trained on another feature set; retrain it with `riskstream train`"
        )
    boosters: dict[str, lgb.Booster] = {}
    calibrators: dict[str, Calibrator] = {}
    for target in TARGETS:
        model_path = vdir / f"{target}.txt"
        try:
            booster = lgb.Booster(model_str=model_path.read_text())
        except FileNotFoundError as exc:
            raise ModelLoadError(f"{model_path} is missing — the artifact is incomplete") from exc
        except Exception as exc:  # LightGBM raises its own LightGBMError on a corrupt model string
            raise ModelLoadError(f"{model_path} is not a readable LightGBM model ({exc})") from exc
        if booster.num_feature() != len(FEATURE_NAMES):
            raise ModelLoadError(f"{model_path} expects {booster.num_feature()} features, not {len(FEATURE_NAMES)}")
        boosters[target] = booster
        try:
            calibrators[target] = Calibrator.from_json(metadata["calibration"][target])
        except Exception as exc:
            raise ModelLoadError(f"{meta_path}: calibration for {target!r} is missing or invalid ({exc})") from exc
    return ModelBundle(
        version=str(metadata.get("version", vdir.name)),
        path=vdir,
        boosters=boosters,
        calibrators=calibrators,
        metadata=metadata,
    )
