"""Evaluation of the decision path on the simulated fleet, in-process (no Kafka).

- :mod:`~streams.evaluation.run`: the simulator through a Processor, alerts fed back (``run_fleet``).
- :mod:`~streams.evaluation.matching`: alerts per rider-hour, incidents warned ahead vs chance.
- :mod:`~streams.evaluation.closed_loop`: incidents with advice followed vs ignored, with intervals.
- :mod:`~streams.evaluation.fairness`: scores and premiums by protected group the models never see.
- :mod:`~streams.evaluation.reports`: the Markdown reports in ``docs/reports/``.

CLI: ``riskstream evaluate-alerts`` and ``riskstream fairness``.
"""
