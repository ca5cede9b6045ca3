"""Issue 17, scale-out: workers that share a state_dir never overwrite each other's online model."""

from __future__ import annotations

import os
import time
from pathlib import Path

from models.online import OnlineRiskModel
from streams.model_host import ModelHost, online_model_files
from streams.settings import WorkerSettings


def learned(host: ModelHost, n: int) -> ModelHost:
    for i in range(n):
        host.online.learn_one({"heat_index_c": 30.0 + i % 10}, y_injury=i % 7 == 0, y_accident=False)
    return host


def test_two_workers_on_one_state_dir_each_keep_their_own_online_model(tmp_path: Path) -> None:
    worker = WorkerSettings(state_dir=tmp_path)
    a, b = learned(ModelHost(worker), 5), learned(ModelHost(worker), 3)
    assert a.save_online_model() and b.save_online_model()
    assert a.online_path != b.online_path  # before: both wrote state_dir/online-model.pkl, the last one won
    stored = {p.name: OnlineRiskModel.from_bytes(p.read_bytes()).n_learned for p in online_model_files(tmp_path)}
    assert sorted(stored.values()) == [3, 5]


def test_a_starting_worker_continues_the_model_that_learned_the_most(tmp_path: Path) -> None:
    worker = WorkerSettings(state_dir=tmp_path)
    a, b = learned(ModelHost(worker), 2), learned(ModelHost(worker), 6)
    a.save_online_model()
    b.save_online_model()
    older = time.time() - 60
    os.utime(b.online_path, (older, older))  # the most learned wins even when another file is newer
    c = ModelHost(worker)
    assert c.online.n_learned == 6
    learned(c, 1).save_online_model()
    assert c.online_path not in (a.online_path, b.online_path)  # a and b are still running: c has its own file
    assert OnlineRiskModel.from_bytes(b.online_path.read_bytes()).n_learned == 6


def test_a_restarted_worker_takes_its_file_back(tmp_path: Path) -> None:
    worker = WorkerSettings(state_dir=tmp_path)
    first = learned(ModelHost(worker), 4)
    first.save_online_model()
    path = first.online_path
    del first  # the process ended: its lock is released
    again = ModelHost(worker)
    assert again.online.n_learned == 4
    learned(again, 1).save_online_model()
    assert again.online_path == path and len(online_model_files(tmp_path)) == 1


def test_the_single_file_of_older_versions_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "online-model.pkl").write_bytes(learned(ModelHost(WorkerSettings(state_dir=tmp_path / "x")), 3)
                                                .online.to_bytes())
    assert ModelHost(WorkerSettings(state_dir=tmp_path)).online.n_learned == 3
