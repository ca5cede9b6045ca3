"""A small real model artifact for tests: trained on a synthetic frame in seconds.

The scorer check suite that runs against it stays in ``models.checks``.
"""

from __future__ import annotations

from pathlib import Path

from models.artifact import frame_fingerprint, save_artifact
from models.fit import evaluate_on_test, fit_bundle, headline, split_frame
from riskstream.testing.frames import synthetic_frame


def tiny_artifact(out_dir: Path, seed: int = 0, n: int = 20_000, version: str = "test-tiny") -> Path:
    """Train and save a small real artifact on a synthetic frame (seconds); returns ``out_dir``."""
    frame = synthetic_frame(n, seed=seed, riders=100)
    folds = split_frame(frame, seed=seed, horizon_min=60)
    bundle = fit_bundle(folds, seed=seed, horizon_min=60, version=version, max_rounds=60, progress=False)
    meta = {k: v for k, v in bundle.metadata.items() if k not in ("version", "feature_names", "calibration")}
    meta["training_fingerprint"] = frame_fingerprint(frame)
    meta["metrics"] = headline(evaluate_on_test(bundle, folds["test"]))
    save_artifact(out_dir, version, bundle.boosters, bundle.calibrators, meta)
    return out_dir
