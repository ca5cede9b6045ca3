"""PNG plots of the evaluation report (matplotlib, Agg backend: no display needed).

Each function takes plain arrays, writes one PNG and returns its path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

Scores = Mapping[str, np.ndarray]  # scorer name -> probabilities, aligned with y
DPI = 90


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def roc_pr_plot(y_by_target: Mapping[str, np.ndarray], scores: Mapping[str, Scores], path: Path) -> Path:
    """ROC (top) and precision-recall (bottom) curves per target (columns) and scorer (lines)."""
    targets = list(y_by_target)
    fig, axes = plt.subplots(2, len(targets), figsize=(5.2 * len(targets), 8.5), squeeze=False)
    for col, target in enumerate(targets):
        y = y_by_target[target]
        for name, p in scores[target].items():
            fpr, tpr, _ = roc_curve(y, p)
            axes[0, col].plot(fpr, tpr, label=name)
            prec, rec, _ = precision_recall_curve(y, p)
            axes[1, col].plot(rec, prec, label=name)
        axes[0, col].plot([0, 1], [0, 1], ":", color="grey")
        axes[0, col].set(title=f"ROC — {target}", xlabel="false-positive rate", ylabel="true-positive rate")
        axes[1, col].axhline(float(np.mean(y)), ls=":", color="grey", label="base rate")
        axes[1, col].set(title=f"precision-recall — {target}", xlabel="recall", ylabel="precision", ylim=(0, 1))
        axes[0, col].legend(fontsize=8, loc="lower right")
        axes[1, col].legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def reliability_points(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean prediction, observed rate, count) per equal-count bin, as the ECE uses them.

    >>> x, obs, n = reliability_points(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 0, 1, 1]), bins=2)
    >>> x.tolist(), obs.tolist(), n.tolist()
    ([0.1, 0.9], [0.0, 1.0], [2, 2])
    """
    order = np.argsort(p, kind="stable")
    chunks = [c for c in np.array_split(order, min(bins, p.size)) if c.size]
    return (np.array([p[c].mean() for c in chunks]), np.array([y[c].mean() for c in chunks]),
            np.array([c.size for c in chunks]))


def reliability_plot(panels: Sequence[tuple[str, np.ndarray, Scores]], path: Path, bins: int = 10) -> Path:
    """Reliability diagrams: one panel per (title, y, scorers); diagonal = perfect calibration."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    for ax, (title, y, scores) in zip(axes[0], panels):
        top = 0.0
        for name, p in scores.items():
            x, obs, _ = reliability_points(np.asarray(p, float), np.asarray(y, float), bins)
            ax.plot(x, obs, "o-", ms=3, label=name)
            top = max(top, float(x.max()), float(obs.max()))
        ax.plot([0, top], [0, top], ":", color="grey")
        ax.set(title=title, xlabel="mean predicted probability", ylabel="observed rate")
        ax.legend(fontsize=8)
    return _save(fig, path)


def bar_plot(values: Mapping[str, Mapping[str, float]], title: str, xlabel: str, path: Path, top: int = 15) -> Path:
    """Horizontal bars of the ``top`` features per target (``values``: target -> feature -> value)."""
    fig, axes = plt.subplots(1, len(values), figsize=(5.5 * len(values), 0.32 * top + 1.5), squeeze=False)
    for ax, (target, by_feature) in zip(axes[0], values.items()):
        items = sorted(by_feature.items(), key=lambda kv: -kv[1])[:top][::-1]
        ax.barh([k for k, _ in items], [v for _, v in items])
        ax.set(title=f"{title} — {target}", xlabel=xlabel)
        ax.tick_params(axis="y", labelsize=8)
    return _save(fig, path)


def drift_plot(windows: np.ndarray, series: Mapping[str, Mapping[str, np.ndarray]], drift_at_h: float, path: Path) -> Path:
    """Prequential metrics over time windows (one panel per metric), drift onset marked."""
    cols = 2
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    for ax, (metric, by_scorer) in zip(axes.ravel(), series.items()):
        for name, v in by_scorer.items():
            ax.plot(windows, v, "o-", ms=3, label=name)
        ax.axvline(drift_at_h, color="red", ls="--", label="drift starts")
        ax.set(title=metric, xlabel="hours since start")
        ax.legend(fontsize=8)
    return _save(fig, path)
