"""Worker processes, free ports, topic reads and metric scrapes, for the integration tests and the benchmarks."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.metrics import metric_value, scrape  # noqa: F401 - the tests' and benchmarks' way to read a worker

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_group() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


class Process:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            args, env={**os.environ, **env}, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(env: dict[str, str], log_path: Path) -> Process:
    return Process([sys.executable, "-m", "riskstream.cli.main", "-v", "worker"], env, log_path)


def wait_until(
    predicate: Any, timeout: float, interval: float = 0.5, what: str = "condition", procs: tuple[Process, ...] = ()
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.alive():
                raise AssertionError(f"process exited with {proc.proc.returncode} while waiting for {what}:\n"
                                     + proc.log()[-4000:])
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, min_count: int = 1, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Read a topic from the start until at least ``min_count`` records came or ``timeout`` passed."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(records) < min_count:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for msg in messages:
                    records.append({"key": msg.key, "value": json.loads(msg.value), "partition": msg.partition,
                                    "offset": msg.offset})
    finally:
        await consumer.stop()
    return records
