"""Bounded waits against real sockets on 127.0.0.1: a server that accepts and never answers,
a refused port, a host name that cannot resolve. Each call ends within ``max_retry_seconds``
(in-flight time included) with an error naming the host and the cause once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sfsync.config import SalesforceSettings
from sfsync.errors import RetriesExhaustedError
from sfsync.salesforce import SalesforceGateway

BUDGET = 2.0
# Thread start-up, a last socket close and the budget's own granularity; far below one read timeout.
SLACK = 1.5


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections on 127.0.0.1 and never sends a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()


def _refused_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()  # nothing listens there any more
    return port


def _settings(instance_url: str, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth": "token",
        "instance_url": instance_url,
        "access_token": SecretStr("00Dxx!token"),
        "connect_timeout": 10.0,
        "read_timeout": 120.0,
        "max_attempts": 6,
        "max_retry_seconds": BUDGET,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def _timed_failure(settings: SalesforceSettings) -> tuple[float, str, RetriesExhaustedError]:
    gateway = SalesforceGateway.connect(settings)
    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError) as caught:
        gateway.limits()
    return time.monotonic() - started, str(caught.value), caught.value


def test_a_server_that_never_answers_ends_within_the_budget_naming_host_and_cause(silent_server: int) -> None:
    elapsed, message, error = _timed_failure(_settings(f"http://127.0.0.1:{silent_server}"))
    assert elapsed <= BUDGET + SLACK, f"took {elapsed:.2f}s with a {BUDGET}s budget"
    assert elapsed >= BUDGET * 0.5  # it did wait for the server, not give up at once
    assert f"127.0.0.1:{silent_server}" in message
    assert "no answer within the read timeout" in message
    assert message.count("TIMEOUT") == 1
    assert message.count("read limits") == 1
    assert error.context.status_code in ("READ_TIMEOUT", "TIMEOUT")
    assert error.context.extra["host"] == f"127.0.0.1:{silent_server}"


def test_a_read_timeout_shorter_than_the_budget_is_retried_and_still_ends_in_time(silent_server: int) -> None:
    elapsed, message, _ = _timed_failure(_settings(f"http://127.0.0.1:{silent_server}", read_timeout=0.4))
    assert elapsed <= BUDGET + SLACK
    assert "gave up after" in message
    assert "attempts" in message  # several reads of 0.4 s fit in 2 s


def test_a_refused_port_says_refused_and_names_the_port() -> None:
    port = _refused_port()
    elapsed, message, error = _timed_failure(_settings(f"http://127.0.0.1:{port}"))
    assert elapsed <= BUDGET + SLACK
    assert f"127.0.0.1:{port}: connection refused (REFUSED)" in message
    assert message.count("refused") == 1
    assert error.context.status_code == "REFUSED"


def test_an_unresolvable_host_says_dns() -> None:
    elapsed, message, error = _timed_failure(_settings("https://nonexistent.invalid", max_retry_seconds=1.0))
    # getaddrinfo itself cannot be interrupted; for the reserved .invalid name it fails at once
    assert elapsed <= 1.0 + SLACK
    assert "nonexistent.invalid: host name does not resolve (DNS)" in message
    assert message.count("DNS") == 1
    assert error.context.status_code == "DNS"


def test_a_tls_handshake_failure_says_tls() -> None:
    # A plain TCP server that answers the TLS ClientHello with garbage.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def answer_garbage() -> None:
        for _ in range(8):
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(1024)
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nnot tls")
            connection.close()

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        elapsed, message, error = _timed_failure(_settings(f"https://127.0.0.1:{port}", max_retry_seconds=1.0))
    finally:
        listener.close()
    assert elapsed <= 1.0 + SLACK
    assert f"127.0.0.1:{port}: TLS handshake failed" in message
    assert error.context.status_code == "TLS"
