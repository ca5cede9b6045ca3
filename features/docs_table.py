"""Render the feature catalog as the Markdown table of ``docs/features.md``.

Regenerate with ``python -m features.docs_table > docs/features.md``; a test checks the file is current.

>>> features_markdown().splitlines()[0]
'# Features'
"""

from __future__ import annotations

from features.catalog import FEATURES

_PREAMBLE = """# Features

Generated from `features/catalog.py` by `python -m features.docs_table > docs/features.md`; do not edit by hand.
The model input vector follows this order. Thresholds live in `features/config.py` (`FeatureConfig`).

- **Event time.** `now` is event time. A W-minute window is the minute bucket holding `now` plus the W whole
  minutes before it (W to W+1 minutes of data); 24 h and 7 d work the same way in hours and local days (UTC+8 by default).
- **Missing is missing.** A value that cannot be known (no weather for the zone, no wearable, no trip data) is NaN,
  never a safe 0.
- **Trip time.** Each trip record covers the seconds until the next one, at most `trip_gap_cap_s` (5 s), so a dropout
  is not riding. Online = riding or waiting. A break is at least `break_min_minutes` (15 min) not online.
- **Estimates.** Core temperature is not measured: `strain_index_est` uses an ECTemp (Buller 2013) Kalman estimate from
  heart rate. `wbgt_c_est` is the BoM approximation blended with a no-sun form (error about ±2-3 °C).
- **Lateness per stream.** The wearable and trip streams each have their own clock and their own minute ring: a record
  is too late only when it is more than `allowed_lateness_s` (120 s) behind the newest record of its own stream, so a
  backlog on one topic (one stream an hour ahead of the other) drops nothing of the other.
- **Unsealed trip seconds.** Trip records are sealed into buckets once they are older than the lateness. Features see
  the newer ones through a tail sealed ahead as records arrive (`features/trip_tail.py`), so a call does not replay
  them; a record that arrives out of order discards the tail and the next call rebuilds it. `rider_features_replay`
  (seal a copy of the state) is the reference a property test holds the fast path to. The state seals a whole minute at
  a time, adopting what the tail walked (its marks at each minute) rather than walking the records again; a property test
  holds it to the state sealed by walking.
- **Stored state.** The changelog form (version 4, `features/state_codec.py`) keeps what features can still read:
  wearable minutes of the 15-min windows, trip minutes of the 10-min windows, older trip minutes as their harsh brakes
  only (for the 60-min count), packed as integers by byte plane, zlib-compressed, in base85 beside the readable rider
  id, zone, status and stream clocks; a dedup digest is 2 bytes. Version 1 (one minute ring for both streams), version 2
  (JSON lists) and version 3 (4-byte digests, base64) states still load; version 2's dedup ring is not carried over (its 6-byte ids are not per second), so for the first
  allowed lateness after an upgrade a resend of a record applied before it is applied again.
"""


def features_markdown() -> str:
    """The whole ``docs/features.md`` text."""
    lines = [_PREAMBLE, "| # | name | meaning | unit | window | source |", "|---|---|---|---|---|---|"]
    for i, f in enumerate(FEATURES, start=1):
        lines.append(f"| {i} | `{f.name}` | {f.meaning} | {f.unit} | {f.window} | {f.source} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(features_markdown(), end="")
