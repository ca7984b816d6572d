"""`certificates-public`: the public verification readers, N processes sharing out the connections
one by one (README, "Scaling public verification").

`uvicorn --workers N` shares one listening socket among its workers, and whichever worker wakes
first accepts every connection waiting: clients that connect together (a proxy's pool, a bulk
client's four connections) all landed on one worker while the other idled. Measured with four
concurrent bulk clients on two workers: one worker 100 % busy, the other 0 % (BENCHMARKS.md).
Giving each worker its own socket on the port (SO_REUSEPORT) lets the kernel spread connections
by a hash of their addresses, which left one of two workers without a connection in two of six
runs of the same benchmark.

So, as Node's cluster module does, the parent process accepts and hands each new connection to
the next worker in turn, over a Unix socket (the descriptor itself passes, SCM_RIGHTS); each
worker serves the connections it is handed with uvicorn's own HTTP protocol, keep-alive
included. The parent only accepts: requests never pass through it.

Stopping: SIGTERM or Ctrl-C makes the parent stop accepting and pass SIGTERM on to each worker,
which finishes the requests in flight (uvicorn's graceful shutdown). A worker that dies is taken
out of the turn; when none is left the parent exits with an error, for the orchestrator to
restart the whole.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import uvicorn

APP = "certificates.app:create_public_app"


class _Stop(Exception):
    """Raised by the parent's signal handler to leave its blocking accept."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="certificates-public", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8012)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="reader processes (default: one per core)")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--serve-handed-over", type=int, metavar="FD", help=argparse.SUPPRESS)  # a worker
    args = parser.parse_args(argv)
    if args.serve_handed_over is not None:
        serve(args.serve_handed_over, args.log_level)
        return 0
    if args.workers < 1:
        parser.error("--workers: at least 1")
    return _accept_and_hand_over(args.host, args.port, args.workers, args.log_level)


# --- the parent: accepts, hands over in turn --------------------------------------------------


def _accept_and_hand_over(host: str, port: int, workers: int, log_level: str) -> int:
    listening = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                     backlog=2048)
    children: list[tuple[subprocess.Popen[bytes], socket.socket]] = []
    for _ in range(workers):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = subprocess.Popen(
            [sys.executable, "-m", "certificates.public_server", "--serve-handed-over", str(theirs.fileno()),
             "--log-level", log_level],
            pass_fds=[theirs.fileno()], start_new_session=True,  # a terminal's Ctrl-C reaches the parent only
        )
        theirs.close()
        children.append((process, ours))

    def stop(*_: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    turn, failed = 0, False
    try:
        while children:
            connection, _ = listening.accept()
            with connection:
                turn = _hand_over(children, connection, turn)
        failed = True  # every worker has gone
        print("certificates-public: no reader process left", file=sys.stderr)
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        listening.close()
        for process, channel in children:
            channel.close()  # a worker also stops when its channel closes
            if process.poll() is None:
                process.terminate()
        for process, _ in children:
            process.wait()
    return 1 if failed else 0


def _hand_over(children: list[tuple[subprocess.Popen[bytes], socket.socket]], connection: socket.socket,
               turn: int) -> int:
    """Pass the connection to the worker whose turn it is (skipping, and dropping, dead ones)."""
    while children:
        turn %= len(children)
        process, channel = children[turn]
        try:
            socket.send_fds(channel, [b"c"], [connection.fileno()])
            return turn + 1
        except OSError:  # the worker has gone: out of the turn
            print(f"certificates-public: reader {process.pid} has gone (exit {process.poll()})", file=sys.stderr)
            channel.close()
            children.pop(turn)
    return 0


# --- a worker: serves what it is handed --------------------------------------------------------


class _HandedOverServer(uvicorn.Server):
    """A uvicorn server that listens on nothing: it serves the connections the parent hands over."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the application's lifespan; no listening socket
        loop = asyncio.get_running_loop()
        self._channel.setblocking(False)
        loop.add_reader(self._channel.fileno(), self._receive, loop)

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            message, fds, _flags, _address = socket.recv_fds(self._channel, 64, 64)
        except BlockingIOError:
            return
        if not message:  # the parent has gone: stop taking connections, finish the rest
            loop.remove_reader(self._channel.fileno())
            self.should_exit = True
            return
        for fd in fds:
            loop.create_task(loop.connect_accepted_socket(self._protocol, socket.socket(fileno=fd)))

    def _protocol(self) -> Any:
        # What uvicorn's own startup builds for each accepted connection.
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state,
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self._channel.fileno())
        except (ValueError, OSError):  # already removed, or the channel is closed
            pass
        await super().shutdown(sockets)


def serve(channel_fd: int, log_level: str) -> None:
    """One worker: the public application, serving the connections handed over on `channel_fd`."""
    config = uvicorn.Config(APP, factory=True, log_level=log_level, access_log=False, lifespan="on")
    _HandedOverServer(config, socket.socket(fileno=channel_fd)).run()


if __name__ == "__main__":
    sys.exit(main())
