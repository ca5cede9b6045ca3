"""Fairness over protected attributes the models never see (simulated ``sex`` and ``age_band``).

The insurer records (risk score, premium multiplier, band) are joined to the simulator's
rider profiles through the pseudonym (HMAC of the rider id under the settings key, as the
insurer would hold it). Per group: riders, score and premium distribution, the share in the
high/severe band; between groups: the ratio of mean premiums to the largest group, with a
bootstrap interval over riders. It also checks that no protected attribute is a model input
(:data:`features.FEATURE_NAMES`) or appears in any output record.

>>> import pandas as pd
>>> f = pd.DataFrame({"sex": ["m", "m", "m", "f", "f"], "premium_multiplier": [1.0, 1.2, 1.1, 0.9, 1.1]})
>>> premium_ratios(f, "sex")   # mean 1.0 for f against 1.1 for m (the reference: the largest group)
{'f': 0.909, 'm': 1.0}
>>> round(disparity_ratio(f, "sex"), 3)
0.909
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from alerts import pseudonymize

PROTECTED = ("sex", "age_band")
#: Name tokens of a protected attribute or a direct proxy; a leading ``age`` (``wearable_age_s`` is data age).
_PROTECTED_TOKENS = re.compile(r"^age(_|$)|(^|_)(sex|gender|age_band|age_group|birth\w*|ethnic\w*|female|male)(_|$)")
HIGH_BANDS = frozenset({"high", "severe"})


def rider_frame(insurer: Iterable[dict[str, Any]], profiles: dict[str, dict[str, object]], key: bytes,
                severity_injury: float = 2000.0, severity_accident: float = 5000.0) -> pd.DataFrame:
    """One row per rider with insurer records: protected attributes, mean score, last premium and band.

    ``high_band`` is the rider's last published band being high or severe; ``high_share`` the share
    of the rider's records in those bands. ``loss_ratio`` is the rider's mean own expected loss
    (``p_injury·severity_injury + p_accident·severity_accident``, when the records carry the
    probabilities) over the fleet's mean: the price signal at full credibility with the class
    mean set to this fleet, before caps and bounds.
    """
    by_pseudonym = {pseudonymize(rid, key): rid for rid in profiles}
    rows = pd.DataFrame(list(insurer))
    if rows.empty:
        return pd.DataFrame(columns=["rider_id", *PROTECTED, "records", "risk_score", "premium_multiplier",
                                     "risk_band", "high_band", "high_share", "own_loss", "loss_ratio"])
    rows["rider_id"] = rows["pseudonym"].map(by_pseudonym)
    if rows["rider_id"].isna().any():
        raise ValueError("insurer records with a pseudonym of no simulated rider: wrong pseudonym key?")
    rows = rows.sort_values(["rider_id", "epoch"], kind="stable")
    rows["high"] = rows["risk_band"].isin(HIGH_BANDS)
    has_p = {"p_injury", "p_accident"} <= set(rows.columns)
    rows["own_loss"] = (rows["p_injury"] * severity_injury + rows["p_accident"] * severity_accident
                        if has_p else np.nan)
    g = rows.groupby("rider_id", sort=True)
    frame = pd.DataFrame({
        "records": g.size(),
        "risk_score": g["risk_score"].mean(),
        "premium_multiplier": g["premium_multiplier"].last(),
        "risk_band": g["risk_band"].last(),
        "high_share": g["high"].mean(),
        "own_loss": g["own_loss"].mean(),
    }).reset_index()
    frame["loss_ratio"] = frame["own_loss"] / frame["own_loss"].mean()
    frame["high_band"] = frame["risk_band"].isin(HIGH_BANDS)
    for attr in PROTECTED:
        frame[attr] = frame["rider_id"].map(lambda r, a=attr: profiles[r][a])
    return frame


def group_table(frame: pd.DataFrame, attr: str) -> pd.DataFrame:
    """Per group of ``attr``: riders, score and premium distribution, share in the high/severe band."""
    g = frame.groupby(attr, sort=True)
    out = pd.DataFrame({
        "riders": g.size(),
        "score_mean": g["risk_score"].mean(),
        "score_median": g["risk_score"].median(),
        "premium_mean": g["premium_multiplier"].mean(),
        "premium_p10": g["premium_multiplier"].quantile(0.1),
        "premium_p90": g["premium_multiplier"].quantile(0.9),
        "high_severe_share": g["high_band"].mean(),
    })
    out["premium_ratio"] = pd.Series(premium_ratios(frame, attr))
    if "loss_ratio" in frame:
        out["loss_ratio_mean"] = g["loss_ratio"].mean()
    return out


def reference_group(frame: pd.DataFrame, attr: str) -> str:
    """The largest group (ties: first in sort order): the baseline of the ratios."""
    counts = frame[attr].value_counts()
    return str(sorted(counts.index[counts == counts.max()])[0])


def premium_ratios(frame: pd.DataFrame, attr: str, column: str = "premium_multiplier") -> dict[str, float]:
    """Mean ``column`` of each group divided by the reference group's, rounded to 3 digits."""
    means = frame.groupby(attr)[column].mean()
    ref = means[reference_group(frame, attr)]
    return {str(k): round(float(v / ref), 3) for k, v in means.sort_index().items()}


def disparity_ratio(frame: pd.DataFrame, attr: str, column: str = "premium_multiplier") -> float:
    """Lowest group mean over highest group mean (1 = equal; the "four-fifths" rule flags < 0.8)."""
    means = frame.groupby(attr)[column].mean()
    return float(means.min() / means.max()) if len(means) else math.nan


def ratio_interval(frame: pd.DataFrame, attr: str, group: str, column: str = "premium_multiplier",
                   n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval (riders resampled within groups) of a group's mean ratio to the reference."""
    ref = reference_group(frame, attr)
    a = frame.loc[frame[attr] == group, column].to_numpy(float)
    b = frame.loc[frame[attr] == ref, column].to_numpy(float)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    ra = a[rng.integers(len(a), size=(n_boot, len(a)))].mean(axis=1)
    rb = b[rng.integers(len(b), size=(n_boot, len(b)))].mean(axis=1)
    lo, hi = np.quantile(ra / rb, [0.025, 0.975])
    return float(lo), float(hi)


def observed_rates(incidents: Iterable[Any], online_s_by_rider: dict[str, float],
                   profiles: dict[str, dict[str, object]], attr: str) -> dict[str, tuple[int, float]]:
    """Per group of ``attr``: (true incidents, online hours) — the risk the scores should track.

    >>> from riskstream.lab.matching import IncidentEvent
    >>> observed_rates([IncidentEvent("a", 1.0, "crash")], {"a": 7200.0, "b": 3600.0},
    ...                {"a": {"sex": "f"}, "b": {"sex": "m"}}, "sex")
    {'f': (1, 2.0), 'm': (0, 1.0)}
    """
    out: dict[str, list[float]] = {}
    for rider, seconds in online_s_by_rider.items():
        out.setdefault(str(profiles[rider][attr]), [0, 0.0])[1] += seconds / 3600.0
    for inc in incidents:
        out.setdefault(str(profiles[inc.rider_id][attr]), [0, 0.0])[0] += 1
    return {k: (int(v[0]), float(v[1])) for k, v in sorted(out.items())}


def protected_features(names: Iterable[str]) -> list[str]:
    """Feature names that are (or name) a protected attribute.

    >>> protected_features(["hr_mean_1m", "age_band", "wearable_age_s", "age", "rider_sex"])
    ['age_band', 'age', 'rider_sex']
    """
    return [n for n in names if _PROTECTED_TOKENS.search(n.lower())]


def plot(frame: pd.DataFrame, path: Any) -> None:
    """Premium multiplier, mean risk score and loss ratio by sex and by age band (box plots), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(10, 10))
    for col, attr in enumerate(PROTECTED):
        groups = sorted(frame[attr].unique())
        for row, (column, label) in enumerate((("premium_multiplier", "last premium multiplier"),
                                               ("risk_score", "mean risk score (P any event, 60 min)"),
                                               ("loss_ratio", "own expected loss / fleet mean"))):
            ax = axes[row][col]
            data = [frame.loc[frame[attr] == g, column].to_numpy() for g in groups]
            ax.boxplot(data, showmeans=True)
            ax.set_xticks(range(1, len(groups) + 1), [f"{g}\n(n={len(d)})" for g, d in zip(groups, data)])
            ax.set_title(f"{label} by {attr}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
