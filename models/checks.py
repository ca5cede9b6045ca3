"""One check suite for every scorer, in the manner of River's ``utils.estimator_checks``.

``yield_checks(scorer)`` yields check functions; a test runs each with the scorer and a
batch of feature rows. The small real artifact the tests run it against is
``riskstream.testing.artifacts.tiny_artifact``.

>>> from models.rules import RuleScorer
>>> [check.__name__ for check in yield_checks(RuleScorer())][:3]
['check_probabilities_in_unit_interval', 'check_deterministic', 'check_input_not_mutated']
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterator

from features.catalog import FEATURE_NAMES
from models.risk import ScoredRisk
from riskstream.contracts.records import Reason

Check = Callable[..., None]


def edge_rows() -> list[dict[str, Any]]:
    """Rows a scorer must survive: empty, all-NaN, all-None, absent keys, extremes, extra keys."""
    nan = float("nan")
    return [
        {},
        {name: nan for name in FEATURE_NAMES},
        {name: None for name in FEATURE_NAMES},
        {"heat_index_c": 45.0, "road_flooding": 1},
        {name: 1e9 for name in FEATURE_NAMES},
        {name: -1e9 for name in FEATURE_NAMES},
        {**{name: 0.0 for name in FEATURE_NAMES}, "not_a_feature": 3.0, "fall_suspected": True},
        {"wearable_age_s": math.inf, "weather_age_s": -math.inf},
    ]


def check_probabilities_in_unit_interval(scorer: Any, rows: list[dict[str, Any]]) -> None:
    out = scorer.score_batch(rows)
    assert len(out) == len(rows)
    for s in out:
        assert isinstance(s, ScoredRisk)
        for p in (s.injury, s.accident):
            assert isinstance(p, float) and math.isfinite(p) and 0.0 <= p <= 1.0, s


def check_deterministic(scorer: Any, rows: list[dict[str, Any]]) -> None:
    assert scorer.score_batch(rows) == scorer.score_batch(rows)


def check_input_not_mutated(scorer: Any, rows: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(rows)
    scorer.score_batch(rows)
    assert repr(rows) == repr(before)  # repr: NaN != NaN under ==


def check_batch_equals_rows(scorer: Any, rows: list[dict[str, Any]]) -> None:
    batch = scorer.score_batch(rows)
    single = [scorer.score_batch([row])[0] for row in rows]
    for b, s in zip(batch, single):
        assert math.isclose(b.injury, s.injury, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(b.accident, s.accident, rel_tol=1e-9, abs_tol=1e-12)
        assert [r.code for r in b.reasons] == [r.code for r in s.reasons]


def check_handles_missing_features(scorer: Any, rows: list[dict[str, Any]]) -> None:
    check_probabilities_in_unit_interval(scorer, edge_rows())
    assert scorer.score_batch([]) == []


def check_reasons_have_text(scorer: Any, rows: list[dict[str, Any]]) -> None:
    for s in scorer.score_batch(rows + edge_rows()):
        for reason in s.reasons:
            assert isinstance(reason, Reason) and reason.code
            assert reason.text.get("en") and reason.text.get("zh-CN")


def yield_checks(scorer: Any, reload: Callable[[], Any] | None = None) -> Iterator[Check]:
    """The checks that apply to ``scorer``; ``reload`` rebuilds it from its artifact, if it has one."""
    yield check_probabilities_in_unit_interval
    yield check_deterministic
    yield check_input_not_mutated
    yield check_batch_equals_rows
    yield check_handles_missing_features
    yield check_reasons_have_text
    if reload is not None:

        def check_identical_after_reload(scorer: Any, rows: list[dict[str, Any]]) -> None:
            assert reload().score_batch(rows) == scorer.score_batch(rows)

        yield check_identical_after_reload

