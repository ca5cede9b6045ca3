"""The worker's models: artifact load and hot reload, the online model's state, delayed labels.

A collaborator the processor owns: it reads the worker settings and tells the alert policy and
the premium calculator the population the artifact is calibrated for. LightGBM is loaded once at start and swapped
when a new artifact version appears (a version that fails to load is refused and the current
one kept); the online model is read from ``worker.state_dir`` at start and written there
(:meth:`ModelHost.save_online_model`); feature snapshots become labelled examples as described
in :mod:`models.labels`, and riders gone silent are swept on the stream's event time. The
artifact's horizon is the one horizon of the worker: of its labels, its population and its
scores (:attr:`ModelHost.horizon_min`).

Several workers may share ``state_dir`` (one disk, or a scaled-out deployment that mounts one
volume): each writes only its own file, ``online-model.<host>[-k].pkl``, claimed with an exclusive
lock for the life of the process (the lowest free ``k``, so a restarted worker takes its file back
and files do not pile up). At start a worker continues the stored model that has learned the most
examples (ties: the newest file); the others stay on disk, never overwritten by another worker.
River models are not averaged: their scalers, optimisers and recalibration have no sound merge.
"""

from __future__ import annotations

import fcntl
import logging
import re
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Protocol

from alerts.reference import PopulationRisk
from models import BlendedScorer, LabelBuffer, LightGBMScorer, OnlineRiskModel, RuleScorer, load_artifact
from models.artifact import TARGETS, ModelBundle
from models.errors import ModelError, ModelLoadError
from models.labels import Example, is_accident
from riskstream.contracts.records import Incident
from streams import metrics
from streams.settings import WorkerSettings

log = logging.getLogger("streams.processor")  # one logger name for the worker's decisions


def population_of(bundle: ModelBundle) -> PopulationRisk | None:
    """The population an artifact is calibrated for (its card's ``population`` block), if it has one."""
    rates = [bundle.population_rate(t) for t in TARGETS]
    if any(r is None for r in rates):
        return None
    injury, accident = rates
    pop = {t: bundle.metadata.get("population", {}).get(t) or {} for t in TARGETS}
    top = {t: pop[t].get("top_1pct_p") for t in TARGETS}
    bands = {t: tuple((float(b["p_from"]), float(b["rr"])) for b in pop[t].get("bands") or ()) for t in TARGETS}
    return PopulationRisk(injury=injury, accident=accident, horizon_min=bundle.horizon_min,  # type: ignore[arg-type]
                          source=bundle.version, injury_top_1pct=top["injury"], accident_top_1pct=top["accident"],
                          injury_bands=bands["injury"], accident_bands=bands["accident"])


#: Horizon of the scores, in minutes, while no artifact is loaded (the rule-based scorer's).
DEFAULT_HORIZON_MIN = 60
#: Workers of one host that can share a state_dir, each with its own online-model file.
MAX_ONLINE_SLOTS = 64


def online_model_files(state_dir: Path) -> list[Path]:
    """Every stored online model in ``state_dir``: each worker's file, and the single file of older versions."""
    return sorted(state_dir.glob("online-model*.pkl"))


def claim_online_file(state_dir: Path, host: str | None = None) -> tuple[Path, IO[bytes]]:
    """This worker's own online-model file and the open lock that keeps it this worker's while the lock is open.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> first, lock = claim_online_file(d, "w"); second, _ = claim_online_file(d, "w")
    >>> first.name, second.name
    ('online-model.w.pkl', 'online-model.w-2.pkl')
    >>> lock.close(); claim_online_file(d, "w")[0].name  # the first worker's file is free again
    'online-model.w.pkl'
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", host or socket.gethostname()) or "worker"
    for k in range(1, MAX_ONLINE_SLOTS + 1):
        slot = name if k == 1 else f"{name}-{k}"
        lock = open(state_dir / f"online-model.{slot}.lock", "ab")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return state_dir / f"online-model.{slot}.pkl", lock
    raise OSError(f"{MAX_ONLINE_SLOTS} workers of host {name} hold online-model files in {state_dir} already; "
                  "give this worker its own worker.state_dir")



class PopulationPriced(Protocol):
    """What prices or alerts relative to the artifact's population (the premium calculator, the alert policy)."""

    population: PopulationRisk | None


class ModelHost:
    """Load, reload, save and teach the models (see the module docstring)."""

    def __init__(self, worker: WorkerSettings, priced: Sequence[PopulationPriced] = ()) -> None:
        self.worker = worker
        self.priced = tuple(priced)
        self._online_file: tuple[Path, IO[bytes]] | None = None  # claimed at the first save
        self._artifact_marker: tuple[Path, float] | None = None
        lgbm = self._load_first_lightgbm()
        self.online: OnlineRiskModel = self._load_online_model(lgbm.bundle if lgbm is not None else None)
        self._saved_n_learned = self.online.n_learned
        self.labels = LabelBuffer(horizon_min=DEFAULT_HORIZON_MIN, snapshot_every_s=worker.snapshot_every_s,
                                  grace_s=worker.label_grace_s)
        self.scorer: BlendedScorer = BlendedScorer(lgbm=lgbm, online=self.online, rules=RuleScorer(),
                                                   corrections=worker.online_corrections)
        if lgbm is not None:
            self._use_artifact(lgbm.bundle)
        metrics.set_model_versions(self.scorer.model_versions())

    @property
    def horizon_min(self) -> int:
        """Horizon of the scores in minutes: the loaded artifact's (its card), else :data:`DEFAULT_HORIZON_MIN`."""
        lgbm = self.scorer.lgbm
        return lgbm.bundle.horizon_min if lgbm is not None else DEFAULT_HORIZON_MIN

    def model_versions(self) -> dict[str, str]:
        return self.scorer.model_versions()

    def _use_artifact(self, bundle: ModelBundle) -> None:
        """Price against the artifact's population and label snapshots over its horizon."""
        population = population_of(bundle)
        if population is None:
            log.warning("artifact %s has no population block: premiums and model-risk alerts use the absolute "
                        "defaults of alerts.config (run `riskstream evaluate --update-card`)", bundle.version)
        for priced in self.priced:
            priced.population = population
        horizon_s = float(bundle.horizon_min) * 60.0
        if horizon_s != self.labels.horizon_s:  # kept snapshots are relabelled by it from now on
            log.info("label horizon set to %d min by artifact %s", bundle.horizon_min, bundle.version)
            self.labels.horizon_s = horizon_s

    def _load_lightgbm(self) -> LightGBMScorer:
        """The current artifact as a scorer; raises :class:`ModelError` (unreadable, or features this code does not compute)."""
        return LightGBMScorer(load_artifact(self.worker.model_dir))

    def _load_first_lightgbm(self) -> LightGBMScorer | None:
        """The artifact at start-up, or ``None`` (counted and logged: the worker runs on rules)."""
        stamp = self._artifact_stamp()
        try:
            lgbm = self._load_lightgbm()
        except ModelError as exc:
            metrics.MODEL_ERRORS.labels(model="lightgbm").inc()
            log.error("LightGBM artifact unavailable, conservative rule-based scoring: %s", exc)
            return None
        self._artifact_marker = stamp
        return lgbm

    def _artifact_stamp(self) -> tuple[Path, float] | None:
        from models.artifact import current_artifact_dir

        try:
            path = current_artifact_dir(self.worker.model_dir)
            return path, (path / "metadata.json").stat().st_mtime
        except (OSError, ModelLoadError):
            return None

    def maybe_reload_models(self) -> bool:
        """Swap in a new artifact version if one appeared; keep the old one if it fails to load."""
        stamp = self._artifact_stamp()
        if stamp is None or stamp == self._artifact_marker:
            return False
        try:
            lgbm = self._load_lightgbm()
        except ModelError as exc:
            metrics.MODEL_ERRORS.labels(model="lightgbm").inc()
            log.error("new model artifact at %s failed to load, keeping the current one: %s", stamp[0], exc)
            self._artifact_marker = stamp
            return False
        self.scorer.lgbm = lgbm
        self._artifact_marker = stamp
        self._use_artifact(lgbm.bundle)
        metrics.set_model_versions(self.scorer.model_versions())
        log.info("model artifact reloaded: %s", self.scorer.model_versions())
        return True

    @property
    def online_path(self) -> Path:
        """This worker's own online-model file (claimed on first use, see the module docstring)."""
        if self._online_file is None:
            self._online_file = claim_online_file(self.worker.state_dir)
        return self._online_file[0]

    def _load_online_model(self, bundle: ModelBundle | None) -> OnlineRiskModel:
        """The stored model that learned the most (ties: the newest file) of every worker's, else a fresh one."""
        estimator = self.worker.online_estimator
        # a new online model's first guesses are the artifact's population rates (if there is one)
        priors = {t: bundle.population_rate(t) for t in TARGETS} if bundle is not None else None
        best: tuple[int, float, Path, OnlineRiskModel] | None = None
        for path in online_model_files(self.worker.state_dir):
            try:
                mtime = path.stat().st_mtime
                model = OnlineRiskModel.from_bytes(path.read_bytes())
            except FileNotFoundError:
                continue
            except Exception as exc:  # a corrupt file must not stop the worker
                log.error("online model state at %s unreadable (%s); not used", path, exc)
                continue
            if model.estimator != estimator:
                log.warning("online model state at %s uses %s, configured is %s; not used", path, model.estimator,
                            estimator)
                continue
            if best is None or (model.n_learned, mtime) > best[:2]:
                best = (model.n_learned, mtime, path, model)
        if best is None:
            return OnlineRiskModel(estimator, priors)
        log.info("online model continued from %s (%d examples learned)", best[2], best[0])
        return best[3]

    def save_online_model(self, if_changed: bool = False) -> bool:
        """Write the online model atomically; with ``if_changed``, only if it learned since the last write."""
        if if_changed and self.online.n_learned == self._saved_n_learned:
            return False
        self.online_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.online_path.with_suffix(".tmp")
        tmp.write_bytes(self.online.to_bytes())
        tmp.replace(self.online_path)
        self._saved_n_learned = self.online.n_learned
        return True

    def check_misjudgement(self, last_risk: list[float] | None, incident: Incident) -> None:
        """An incident the models had scored as low risk (``last_risk``: [injury, accident]) counts towards the
        circuit breaker."""
        if last_risk is None:
            return
        target = "accident" if is_accident(incident.kind) else "injury"
        p = last_risk[1] if target == "accident" else last_risk[0]
        if p < self.worker.misjudgement_below_p:
            was = self.scorer.conservative_mode
            self.scorer.record_misjudgement()
            metrics.MODEL_MISJUDGEMENTS.labels(target=target).inc()
            log.warning("misjudgement: %s of rider %s at %s after an %s probability of %.2g",
                        incident.kind.value, incident.rider_id, incident.ts.isoformat(), target, p)
            if self.scorer.conservative_mode and not was:
                log.error("circuit breaker open: repeated misjudgements, conservative rule-based mode (%s)",
                          self.scorer.last_error)

    def sweep_labels(self, stream_now: float) -> list[str]:
        """Learn the snapshots of riders gone silent once ``stream_now`` (event time) is past their horizon + grace;
        the riders whose labels changed.

        Riders who keep sending release their own snapshots as new ones are taken; this catches
        the rest (a crash often ends a shift). Runs once per ``snapshot_every_s`` of event time.
        """
        swept = self.labels.sweep_due(stream_now)
        for examples in swept.values():
            self.learn(examples)
        return list(swept)

    def learn(self, examples: Iterable[Example]) -> None:
        batch = list(examples)
        self.scorer.learn(batch)
        for _, y_injury, y_accident in batch:
            metrics.ONLINE_EXAMPLES.labels(label="positive" if (y_injury or y_accident) else "negative").inc()
