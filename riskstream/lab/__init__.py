"""Evaluation of the decision path on the simulated fleet, in-process (no Kafka).

- :mod:`~riskstream.lab.run`: the simulator through a Processor, alerts fed back (``run_fleet``).
- :mod:`~riskstream.lab.matching`: alerts per rider-hour, incidents warned ahead vs chance.
- :mod:`~riskstream.lab.closed_loop`: incidents with advice followed vs ignored, with intervals.
- :mod:`~riskstream.lab.fairness`: scores and premiums by protected group the models never see.
- :mod:`~riskstream.lab.reports`: the Markdown reports in ``docs/reports/``.

CLI: ``riskstream evaluate-alerts`` and ``riskstream fairness``.
"""
