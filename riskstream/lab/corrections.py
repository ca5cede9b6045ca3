"""The default of the worker's online corrections, from a drift fleet and a no-drift fleet.

Each fleet is replayed as the worker sees it (:func:`riskstream.lab.drift.prequential_replay`: every
snapshot scored when taken, learned when its label arrives), and each setting of
``RISKSTREAM_WORKER__ONLINE_CORRECTIONS`` is graded on what it would have served then:

- ``off``: the artifact's served scorer as calibrated offline;
- ``recalibrate``: that, after the online recalibration (step 1 of :mod:`models.blend`);
- ``recalibrate+river``: the blend, River mixed in (step 2).

:func:`choose_default` applies the rule of issue 15: a setting is on by default only if it gains
after the drift (pooled log loss over both targets below ``off``'s) without losing ranking or log
loss on the no-drift fleet's second half, the steady state a worker runs in (per target, ROC-AUC
no more than :data:`AUC_TOLERANCE` below ``off``'s, log loss no more than :data:`LOG_LOSS_TOLERANCE`
above it). Of the settings that pass, the one with the larger gain after the drift; else ``off``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from models.artifact import TARGETS
from riskstream.lab.drift import log_loss_and_auc

#: Setting of ``online_corrections`` → the column of :func:`riskstream.lab.drift.prequential_replay` it serves.
MODES = {"off": "lightgbm", "recalibrate": "recalibrated", "recalibrate+river": "blend"}
#: "Without losing ranking": ROC-AUC at most this much below ``off``'s on the no-drift fleet (per target).
AUC_TOLERANCE = 0.002
#: "Without losing log loss": at most this share above ``off``'s on the no-drift fleet (per target).
LOG_LOSS_TOLERANCE = 0.002


def span_metrics(res: pd.DataFrame, mask: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Per target and setting: pooled ``log_loss`` and ``auc`` over the rows of ``mask``, with ``n`` and ``n_pos``.

    >>> res = pd.DataFrame({"y_injury": [0, 1], "y_accident": [1, 0], **{f"p_{t}_{c}": [0.2, 0.8] for t in TARGETS
    ...                     for c in MODES.values()}})
    >>> m = span_metrics(res, res["y_injury"] >= 0)
    >>> m["injury"]["off"]["auc"], m["accident"]["recalibrate+river"]["auc"], m["injury"]["off"]["n_pos"]
    (1.0, 0.0, 1)
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    part = res[mask]
    for t in TARGETS:
        y = part[f"y_{t}"].to_numpy(int)
        out[t] = {}
        for mode, column in MODES.items():
            loss, auc = log_loss_and_auc(y, part[f"p_{t}_{column}"].to_numpy(float))
            out[t][mode] = {"log_loss": loss, "auc": auc, "n": int(y.size), "n_pos": int(y.sum())}
    return out


def measure(drift: pd.DataFrame, no_drift: pd.DataFrame, drift_after_h: float) -> dict[str, Any]:
    """The spans :func:`choose_default` reads, from two replays (:func:`riskstream.lab.drift.prequential_replay`):
    the drift fleet before and after the drift, the no-drift fleet's whole stream and second half."""
    h = (drift["ts"] - drift["ts"].min()) / 3600.0
    order = no_drift["ts"].rank(method="first").to_numpy()
    second_half = order > len(no_drift) / 2
    return {"drift": {"before": span_metrics(drift, h < drift_after_h), "after": span_metrics(drift, h >= drift_after_h)},
            "no_drift": {"whole": span_metrics(no_drift, order > 0), "second_half": span_metrics(no_drift, second_half)}}


def choose_default(spans: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """``(setting, why per setting)`` by the rule in the module docstring.

    >>> def m(ll, auc):
    ...     return {t: {"off": {"log_loss": 0.20, "auc": 0.70}, "recalibrate": {"log_loss": ll, "auc": auc},
    ...                 "recalibrate+river": {"log_loss": 0.21, "auc": 0.69}} for t in TARGETS}
    >>> choose_default({"drift": {"after": m(0.18, 0.70)}, "no_drift": {"second_half": m(0.2001, 0.6995)}})[0]
    'recalibrate'
    >>> choose_default({"drift": {"after": m(0.18, 0.70)}, "no_drift": {"second_half": m(0.20, 0.65)}})[0]
    'off'
    """
    after, steady = spans["drift"]["after"], spans["no_drift"]["second_half"]
    why: dict[str, str] = {}
    gains: dict[str, float] = {}
    for mode in MODES:
        if mode == "off":
            continue
        gain = sum(after[t]["off"]["log_loss"] - after[t][mode]["log_loss"] for t in TARGETS)
        losses = []
        for t in TARGETS:
            base, m = steady[t]["off"], steady[t][mode]
            if math.isfinite(base["auc"]) and m["auc"] < base["auc"] - AUC_TOLERANCE:
                losses.append(f"{t} ROC-AUC {base['auc']:.3f} → {m['auc']:.3f}")
            if m["log_loss"] > base["log_loss"] * (1.0 + LOG_LOSS_TOLERANCE):
                losses.append(f"{t} log loss {base['log_loss']:.4f} → {m['log_loss']:.4f}")
        if gain <= 0.0:
            why[mode] = f"no gain after the drift (log loss summed over targets {-gain:+.4f} against off)"
        elif losses:
            why[mode] = (f"gains {gain:.4f} after the drift but loses without drift (2nd half): " + "; ".join(losses))
        else:
            why[mode] = f"gains {gain:.4f} after the drift and loses neither ranking nor log loss without drift"
            gains[mode] = gain
    return (max(gains, key=lambda k: gains[k]) if gains else "off"), why


def markdown(spans: dict[str, Any], chosen: str, why: dict[str, str], how: str, command: str) -> list[str]:
    """The table (log loss / ROC-AUC per fleet, span, target and setting) and the choice."""
    lines = ["## Online corrections: off, recalibrate, recalibrate+river", "", f"Regenerate: `{command}`", "", how, "",
             "| fleet | span | target | rows (positive) | " + " | ".join(f"`{m}` log loss / AUC" for m in MODES) + " |",
             "|---|---|---|---|" + "---|" * len(MODES)]
    names = {"drift": "drift", "no_drift": "no drift"}
    for fleet, block in spans.items():
        for span, per_target in block.items():
            for t in TARGETS:
                cells = [f"{per_target[t][m]['log_loss']:.4f} / {per_target[t][m]['auc']:.3f}" for m in MODES]
                first = per_target[t]["off"]
                lines.append(f"| {names[fleet]} | {span.replace('_', ' ')} | {t} | {first['n']:,} ({first['n_pos']}) | "
                             + " | ".join(cells) + " |")
    lines += ["", f"Rule (`riskstream.lab.corrections.choose_default`): on by default only if it gains after the drift "
              f"without losing ranking (ROC-AUC more than {AUC_TOLERANCE} below `off`) or log loss (more than "
              f"{LOG_LOSS_TOLERANCE * 100:g} % above) on the no-drift fleet's second half, per target.", ""]
    lines += [f"- `{m}`: {text}." for m, text in why.items()]
    lines += ["", f"**Default: `{chosen}`** (`streams.settings.WorkerSettings.online_corrections`).", ""]
    return lines
