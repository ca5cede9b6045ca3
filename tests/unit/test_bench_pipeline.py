"""bench_pipeline refuses, before any round, an interpreter that cannot run its quixstreams baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import bench_pipeline


def test_an_interpreter_without_quixstreams_is_refused_before_the_broker_starts(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if bench_pipeline.quix_problem(Path(sys.executable)) is None:
        pytest.skip("this interpreter has quixstreams")

    def no_broker(*args: object, **kwargs: object) -> None:
        raise AssertionError("the broker was started before the interpreter was checked")

    monkeypatch.setattr(bench_pipeline, "EmbeddedBroker", no_broker)
    with pytest.raises(SystemExit) as exc:
        bench_pipeline.main(["--quick", "--quix-python", sys.executable])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "No module named 'quixstreams'" in err and "make bench-venv" in err


def test_a_run_of_fewer_than_100k_readings_says_its_ratios_are_no_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    rates = {"pipeline": [9371.0], "noop": [10732.0], "noop_single": [5920.0], "quixstreams": [35821.0]}
    report = {"readings": 22_428, "envelope_messages": 2_364, "envelope_size": 10, "rounds": 1,
              "noop_records_per_s": 10732.0, "quixstreams_records_per_s": 35821.0, "noop_single_records_per_s": 5920.0,
              "ratio_median": 0.87, "ratio_min": 0.87, "ratio_max": 0.87, "runs_records_per_s": rates}
    bench_pipeline.print_report(report)
    assert "no evidence for the targets" in capsys.readouterr().out
    bench_pipeline.print_report({**report, "readings": 113_817})
    assert "no evidence" not in capsys.readouterr().out
