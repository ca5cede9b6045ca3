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
