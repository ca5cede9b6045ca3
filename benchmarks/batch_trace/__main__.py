"""Where a worker's latency goes, from a batch trace (``benchmarks/batch_trace/sitecustomize.py``).

    BATCH_TRACE=/tmp/trace PYTHONPATH=benchmarks/batch_trace:$PWD python -m benchmarks.bench_capacity --riders 500 ...
    python -m benchmarks.batch_trace /tmp/trace

Per worker (one trace file each), over the second half of its batches (as ``bench_capacity`` measures) and without
its end-of-stream batch: the newest input's Kafka timestamp to the batch's receipt, the processing time, when each
output's send returned after the batch's outputs began (its Kafka timestamp is taken then), the newest input to each
send, and the time the state writes took after the last send.
"""

from __future__ import annotations

import glob
import json
import statistics
import sys
from typing import Any

ROLES = ("alerts", "risk_scores", "audit")


def pct(xs: list[float], q: float) -> float:
    """The ``q``-th percentile of ``xs`` (nearest rank).

    >>> pct([1.0, 2.0, 3.0, 4.0], 50), pct([1.0, 2.0, 3.0, 4.0], 99)
    (3.0, 4.0)
    """
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))] if xs else float("nan")


def report(path: str, batches: list[dict[str, Any]]) -> None:
    batches = sorted(batches, key=lambda b: b["recv"])
    mid = batches[0]["recv"] + (batches[-1]["recv"] - batches[0]["recv"]) / 2
    rs = [b for b in batches[:-1] if b["recv"] >= mid]
    if not rs:
        return
    fetch = [b["recv"] - b["ts_max"] for b in rs if b["ts_max"]]
    proc = [b["proc"] for b in rs]
    after_start: dict[str, list[float]] = {role: [] for role in ROLES}
    from_input: dict[str, list[float]] = {role: [] for role in ROLES}
    for b in rs:
        for role, at in b["sends"]:
            if role in after_start and b["ts_max"]:
                after_start[role].append(at - b["pub0"])
                from_input[role].append(at - b["ts_max"])
    writes = [b["done"] - max([b["pub0"]] + [at for _, at in b["sends"]]) for b in rs]
    idle = [b["recv"] - a["done"] for a, b in zip(rs, rs[1:], strict=False)]
    print(f"{path}: {len(rs)} batches in the second half, {statistics.mean(b['n'] for b in rs):.0f} messages, "
          f"{statistics.median(len(b['sends']) for b in rs):.0f} outputs (max {max(len(b['sends']) for b in rs)}) and "
          f"{statistics.median(b['states'] for b in rs):.0f} state writes each (medians)")
    print(f"  newest input's Kafka timestamp -> batch received: p50 {pct(fetch, 50):.3f} s, p99 {pct(fetch, 99):.3f} s")
    print(f"  processing: p50 {pct(proc, 50):.3f} s, p99 {pct(proc, 99):.3f} s, max {max(proc):.3f} s")
    for role in ROLES:
        if after_start[role]:
            print(f"  {role}: send returned after the outputs began p50 {pct(after_start[role], 50):.3f} s, p99 "
                  f"{pct(after_start[role], 99):.3f} s, max {max(after_start[role]):.3f} s; newest input -> send p50 "
                  f"{pct(from_input[role], 50):.3f} s, p99 {pct(from_input[role], 99):.3f} s (n={len(from_input[role])})")
    print(f"  state writes acknowledged after the last send: p50 {pct(writes, 50):.3f} s, p99 {pct(writes, 99):.3f} s; "
          f"idle between batches p50 {pct(idle, 50):.3f} s, p99 {pct(idle, 99):.3f} s")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    for prefix in argv:
        paths = sorted(glob.glob(prefix + ".*"))
        if not paths:
            print(f"no trace files {prefix}.* (run the worker with BATCH_TRACE={prefix}, as above)", file=sys.stderr)
            return 2
        for path in paths:
            with open(path) as f:
                batches = [json.loads(line) for line in f if line.strip()]
            if len(batches) > 2:
                report(path, batches)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
