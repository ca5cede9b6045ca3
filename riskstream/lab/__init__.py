"""Evaluation of the decision path on the simulated fleet, in-process (no Kafka).

- :mod:`~riskstream.lab.run`: the simulator through a Processor, alerts fed back (``run_fleet``).
- :mod:`~riskstream.lab.matching`: alerts per rider-hour, incidents warned ahead vs chance.
- :mod:`~riskstream.lab.closed_loop`: incidents with advice followed vs ignored, with intervals.
- :mod:`~riskstream.lab.outcome`: the outcome study — control, policy, placebo, rules and oracle arms on
  common random numbers, incidents and expected incidents (:mod:`~riskstream.lab.outcome_report` writes it).
- :mod:`~riskstream.lab.fairness`: scores and premiums by protected group the models never see.
- :mod:`~riskstream.lab.reports`: the Markdown reports in ``docs/reports/``.

CLI: ``riskstream evaluate-alerts``, ``riskstream evaluate-outcome`` and ``riskstream fairness``.
"""
