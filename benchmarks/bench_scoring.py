"""Per-row cost of scoring: LightGBM batched vs one row at a time, with and without reasons, and River.

Usage: ``python benchmarks/bench_scoring.py [--quick] [--artifact DIR]``. Rows are feature
rows of the synthetic frame (:mod:`riskstream.testing.frames`), scored by the shipped artifact
(default). Everything is measured in the same run, single-threaded, best of ``--repeat``
timings, so the ratios compare like with like. Printed columns: µs per row, and the ratio
to batched LightGBM without reasons (the cheapest way to score).

- ``lightgbm batch, no reasons``: ``LightGBMScorer(explain_min_risk=inf).score_batch(rows)``
- ``lightgbm batch, reasons``: the same with TreeSHAP reasons for every row (the default)
- ``lightgbm per row``: ``score_batch([row])`` for each row (what a per-event scorer would do)
- ``river predict_proba_one`` / ``learn_one``: :class:`models.online.OnlineRiskModel`, both targets
- ``rules batch``: :class:`models.rules.RuleScorer` (the fallback)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable

from features.catalog import FEATURE_NAMES
from models import LightGBMScorer, OnlineRiskModel, RuleScorer, load_artifact
from riskstream.testing.frames import synthetic_frame


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` runs of ``fn``, in seconds (the least disturbed by other load)."""
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(batch: int, per_row: int, repeat: int, artifact: Path | None) -> list[tuple[str, int, float]]:
    """``(case, rows, µs per row)`` for every case in the module docstring."""
    frame = synthetic_frame(max(batch, per_row) + 2000, seed=11, riders=200)
    rows = frame[list(FEATURE_NAMES)].to_dict("records")
    labelled = list(zip(rows, frame["y_injury"].astype(bool), frame["y_accident"].astype(bool)))
    bundle = load_artifact(artifact)
    plain = LightGBMScorer(bundle, explain_min_risk=math.inf)
    explained = LightGBMScorer(bundle)
    online = OnlineRiskModel()
    for x, yi, ya in labelled[-2000:]:  # a warmed-up learner (running means and weights exist)
        online.learn_one(x, yi, ya)
    batch_rows, single_rows = rows[:batch], rows[:per_row]
    cases: list[tuple[str, int, Callable[[], object]]] = [
        ("lightgbm batch, no reasons", batch, lambda: plain.score_batch(batch_rows)),
        ("lightgbm batch, reasons", batch, lambda: explained.score_batch(batch_rows)),
        ("lightgbm per row, no reasons", per_row, lambda: [plain.score_batch([r]) for r in single_rows]),
        ("lightgbm per row, reasons", per_row, lambda: [explained.score_batch([r]) for r in single_rows]),
        ("river predict_proba_one", per_row, lambda: [online.predict_proba_one(r) for r in single_rows]),
        ("river learn_one", per_row, lambda: [online.learn_one(x, yi, ya) for x, yi, ya in labelled[:per_row]]),
        ("rules batch", per_row, lambda: RuleScorer().score_batch(single_rows)),
    ]
    return [(name, n, best_of(fn, repeat) / n * 1e6) for name, n, fn in cases]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    p.add_argument("--batch", type=int, default=2000, help="rows per batch (default 2000, the stream's batch)")
    p.add_argument("--per-row", type=int, default=500, help="rows scored one by one (default 500)")
    p.add_argument("--repeat", type=int, default=5, help="timings per case; the best is kept (default 5)")
    p.add_argument("--artifact", type=Path, default=None, help="artifact directory (default: shipped CURRENT)")
    a = p.parse_args()
    if a.quick:
        a.batch, a.per_row, a.repeat = 500, 100, 2
    results = run(a.batch, a.per_row, a.repeat, a.artifact)
    base = results[0][2]
    print(f"{'case':32} {'rows':>6} {'µs/row':>10} {'× batch':>8}")
    for name, n, us in results:
        print(f"{name:32} {n:6d} {us:10.1f} {us / base:8.1f}")


if __name__ == "__main__":
    main()
