"""``riskstream replay`` reads each value as written (issue 14, finding 7): no model, no defaults, no conversion."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from riskstream.cli.producer import encode, event_time
from riskstream.cli.replay import ReplayFileError, read_written

LINES = [
    '{"topic": "weather", "key": "z1", "value": {"event_id":"x1","ts":"2026-07-15T02:00:00Z","zone_id":"z1",'
    '"air_temp_c":"31.5", "relative_humidity_pct": 60.00 ,"note":"\\u00e9"}, "true_hazard": 0.1}',
    '{"topic":"wearable","key":"r1","value":"{not json"}',
    '{"value": {"ts": "2026-07-15T02:00:01"}, "topic": "trip", "key": null}',
]


def test_values_are_the_bytes_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(LINES) + "\n\n")
    recs = list(read_written(path))
    assert [encode(r) for r in recs] == [
        ("weather", b"z1", b'{"event_id":"x1","ts":"2026-07-15T02:00:00Z","zone_id":"z1","air_temp_c":"31.5", '
                           b'"relative_humidity_pct": 60.00 ,"note":"\\u00e9"}'),
        ("wearable", b"r1", b"{not json"),
        ("trip", None, b'{"ts": "2026-07-15T02:00:01"}'),
    ]
    assert [event_time(r) for r in recs] == [1784080800.0, None, 1784080801.0]


@pytest.mark.parametrize(("line", "says"), [
    ('{"topic": "weather", "key": "z1"}', 'needs "topic" and "value"'),
    ('{"topic": "telemetry.weather", "key": "z1", "value": {}}', "is not a topic role"),
    ('{"topic": "weather", "key": 7, "value": {}}', "key must be a string"),
    ('{"topic": "weather", "value": {}', "ends inside"),
    ("[1, 2]", "not a JSON object"),
])
def test_a_bad_line_is_named(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text(LINES[0] + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ReplayFileError) as info:
        list(read_written(path))
    assert f"{path}:2: " in str(info.value) and says in str(info.value)
