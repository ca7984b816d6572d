"""`certificates-public` shares connections out one by one among its reader processes, serves
the public answers, and stops cleanly on SIGTERM."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conformity_devstack import testing
from conformity_devstack.kafka import free_port

from conformity_shared.runtime import ServiceRuntime

from certificates import loader, public_server
from certificates.settings import CertificatesSettings


@pytest.fixture
async def valid_number(runtime: ServiceRuntime, today: dt.date) -> str:
    """A valid certificate's number, among 50 of the loader's mix."""
    await loader.load(runtime.settings.resolved_database_url(), 50, seed=7, today=today - dt.timedelta(days=400))
    with sqlite3.connect(runtime.engine.url.database) as conn:
        return conn.execute("SELECT min(number) FROM certificates WHERE status = 'valid'").fetchone()[0]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _sockets_of(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def _settled_sockets(pids: list[int]) -> dict[int, int]:
    """Each process's open sockets, once the counts hold still for half a second."""
    counts, deadline = {pid: _sockets_of(pid) for pid in pids}, time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = {pid: _sockets_of(pid) for pid in pids}
        if now == counts:
            return now
        counts = now
    raise AssertionError("the readers' sockets did not settle")


def _wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the readers ended while starting"
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the readers did not answer within 60 s")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_connections_opened_together_are_shared_out_in_turn_and_sigterm_stops_every_process(
    settings: CertificatesSettings, valid_number: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, **testing.identity_env(), "CONFORMITY_DATABASE_URL": settings.resolved_database_url(),
           "CONFORMITY_DATA_DIR": str(tmp_path), "CONFORMITY_KAFKA_BOOTSTRAP_SERVERS": testing.UNREACHABLE_KAFKA,
           "CONFORMITY_CONSUMERS_ENABLED": "false"}
    readers = subprocess.Popen([sys.executable, "-m", "certificates.public_server", "--port", str(port),
                                "--workers", "2"], env=env, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, readers)
        workers = _children(readers.pid)
        assert len(workers) == 2
        before = _settled_sockets(workers)  # the health checks' connections closed
        clients = [httpx.Client(base_url=base, limits=httpx.Limits(max_connections=1)) for _ in range(4)]
        for client in clients:  # four connections opened one after the other, each kept alive
            answer = client.get(f"/public/certificates/{valid_number}")
            assert answer.status_code == 200 and answer.json()["status"] == "valid"
        # Each worker holds two of the four: uvicorn's shared socket gave all four to one.
        assert {pid: _sockets_of(pid) - before[pid] for pid in workers} == dict.fromkeys(workers, 2)
        for client in clients:
            client.close()

        readers.send_signal(signal.SIGTERM)
        assert readers.wait(timeout=30) == 0
        assert all(not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in workers)
    finally:
        if readers.poll() is None:
            readers.kill()
            readers.wait()


def test_a_worker_that_has_gone_is_taken_out_of_the_turn() -> None:
    alive, gone = socket.socketpair(), socket.socketpair()
    gone[1].close()  # its worker's end: sends to it now fail

    class _Process:
        pid, poll = 0, staticmethod(lambda: 1)

    children = [(_Process(), gone[0]), (_Process(), alive[0])]
    carried, other = socket.socketpair()
    with carried, other:
        turn = public_server._hand_over(children, carried, 0)  # type: ignore[arg-type]
        assert len(children) == 1 and children[0][1] is alive[0] and turn == 1
        message, fds, _, _ = socket.recv_fds(alive[1], 16, 4)
        assert message == b"c" and len(fds) == 1
        os.close(fds[0])
    for end in (*alive, gone[0]):
        end.close()
