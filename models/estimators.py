"""Names of the online learner's River estimators, without importing River.

The settings check ``RISKSTREAM_WORKER__ONLINE_ESTIMATOR`` against these when they load, so
loading settings stays cheap; :data:`models.online.ESTIMATORS` builds one estimator per name.

>>> DEFAULT_ESTIMATOR in ESTIMATOR_NAMES, len(ESTIMATOR_NAMES)
(True, 6)
"""

from __future__ import annotations

#: Candidate estimators of :mod:`models.online`, in the order of its ``ESTIMATORS``.
ESTIMATOR_NAMES: tuple[str, ...] = (
    "logreg-sgd", "logreg-adagrad", "hoeffding-adaptive-tree", "amf", "arf", "gaussian-nb",
)
#: The estimator the worker uses, chosen by prequential log loss (:mod:`riskstream.lab.online_select`,
#: docs/reports/model-evaluation.md).
DEFAULT_ESTIMATOR = "logreg-adagrad"
