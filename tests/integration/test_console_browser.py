"""The safety console in a real browser: a simulated fall appears as an open question and is acknowledged.

Broker, worker and `riskstream console` run as real processes; headless Chromium (Debian `chromium` and
`chromium-driver`, `make deb-deps`) opens the page through Selenium. The acknowledgement is read back from
its topic with confluent-kafka, with its audit record. ``RISKSTREAM_SCREENSHOT_DIR`` also saves the
screenshots there (docs/img/ for the README).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from riskstream.testing.workers import Process, free_port, produce, scrape, start_worker, wait_until
from streams.settings import Settings
from tests.integration.test_fall_escalation import _as_items
from tests.integration.test_pipeline import topic, worker_env
from tests.unit.test_streams_escalation import fall_ride

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.fail("the console test needs Debian's chromium and chromium-driver: run `make deb-deps` (as root)",
                pytrace=False)


def read_with_confluent(bootstrap: str, name: str, want: Any, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Records of topic ``name`` (from the start) until one satisfies ``want``, read with confluent-kafka."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"console-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([name])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not any(want(r) for r in out):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append({"key": msg.key(), "value": json.loads(msg.value()), "partition": msg.partition(),
                            "timestamp": msg.timestamp()})
    finally:
        consumer.close()
    return out


def browser() -> Any:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def screenshot(driver: Any, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    if target := os.environ.get("RISKSTREAM_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / name, Path(target) / name)


def fresh(action: Any) -> Any:
    """``action()``, again while the element it used was replaced by a refresh of the live panels."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(50):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.1)
    return action()


def test_a_fall_is_an_open_question_acknowledged_in_the_browser(broker: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    env = worker_env(broker, tmp_path)
    env["RISKSTREAM_TOPICS__ACKNOWLEDGEMENTS"] = env["RISKSTREAM_TOPICS__ALERTS"].replace("alerts", "acks")
    env["RISKSTREAM_WORKER__FALL_RESPONSE_TIMEOUT_S"] = "600"  # stays a question: no escalation in this test
    console_port = free_port()
    env["RISKSTREAM_CONSOLE__PORT"] = str(console_port)
    worker = start_worker(env, tmp_path / "worker.log")
    console = Process([sys.executable, "-m", "riskstream.cli.main", "console"], env, tmp_path / "console.log")
    driver = None
    rider = "r-fell-7"
    try:
        wait_until(lambda: scrape(int(env["RISKSTREAM_METRICS__PORT"])), 90, what="the worker's metrics",
                   procs=(worker, console))
        wait_until(lambda: "riskstream console on" in console.log(), 60, what="the console", procs=(console,))
        assert "listens on 127.0.0.1 only" in console.log(), "without a token the console says it is loopback only"
        for role, items in _as_items(fall_ride(Settings(), seconds_after=30), rider).items():
            asyncio.run(produce(broker.bootstrap_servers, topic(env, role), items))

        driver = browser()
        driver.get(f"http://127.0.0.1:{console_port}/")
        row_css = "#questions tr[data-alert]"
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, row_css), 120, what="the fall as an open question",
                   procs=(worker, console))
        alert_id, text = fresh(lambda: (driver.find_element(By.CSS_SELECTOR, row_css).get_attribute("data-alert"),
                                        driver.find_element(By.CSS_SELECTOR, row_css).text))
        assert rider in text and "z1" in text and "no answer yet" in text, text
        wait_until(lambda: rider in driver.find_element(By.ID, "feed").text, 30, what="the fall in the live feed")
        zones = fresh(lambda: driver.find_element(By.ID, "zones").text)
        assert "z1" in zones, zones
        screenshot(driver, tmp_path, "console.png")

        operator = driver.find_element(By.ID, "operator")
        operator.clear()
        operator.send_keys("ops-lin")
        fresh(lambda: driver.find_element(By.CSS_SELECTOR, f"{row_css} button[data-action=acknowledge]").click())
        wait_until(lambda: "acknowledged by ops-lin" in fresh(lambda: driver.find_element(By.CSS_SELECTOR, row_css).text), 60,
                   what="the acknowledgement on the page", procs=(console,))

        acks = read_with_confluent(broker.bootstrap_servers, topic(env, "acknowledgements"),
                                   lambda r: r["value"]["alert_id"] == alert_id)
        ack = next(r for r in acks if r["value"]["alert_id"] == alert_id)
        assert ack["key"] == rider.encode()
        assert (ack["value"]["rider_id"], ack["value"]["action"], ack["value"]["by"]) == (rider, "acknowledge", "ops-lin")
        audit = read_with_confluent(broker.bootstrap_servers, topic(env, "audit"),
                                    lambda r: r["value"]["decision_type"] == "acknowledgement")
        record = next(r["value"] for r in audit if r["value"]["decision_type"] == "acknowledgement")
        assert record["decision_id"] == ack["value"]["ack_id"] and record["rider_id"] == rider
        assert record["outcome"] == f"suspected fall acknowledged by ops-lin on the safety console (alert {alert_id})"

        fresh(lambda: driver.find_element(By.CSS_SELECTOR, f"#questions a[href='/rider/{rider}']").click())
        wait_until(lambda: driver.find_elements(By.ID, "decisions"), 30, what="the rider page")
        decisions = driver.find_element(By.ID, "decisions").text
        mine = [(r["partition"], r["timestamp"], r["value"]["ts"], r["value"]["outcome"]) for r in audit
                if r["value"]["rider_id"] == rider]
        assert "alert sent: suspected fall (danger)" in decisions, (decisions, mine)
        assert "acknowledgement: suspected fall" in decisions
        assert "inputs:" not in decisions, "the rider page shows no input values"
        screenshot(driver, tmp_path, "console-rider.png")
    finally:
        if driver is not None:
            driver.quit()
        console.stop()
        worker.stop()
    assert console.proc.returncode == 0, console.log()[-3000:]
