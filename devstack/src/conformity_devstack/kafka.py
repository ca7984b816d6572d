"""The platform's own Apache Kafka broker: one KRaft node assembled from Maven Central.

`ensure_jars()` copies the broker's jars (pinned in kafka_broker/pom.xml, with a logging
backend) into a cache folder once; later starts download nothing. `LocalKafka` formats
its storage, starts the JVM on free loopback ports, waits until a metadata request
succeeds, and stops it cleanly; its log is kept in `<workdir>/kafka.log`.

Used by `make run`, the `conformity-broker` command and the test fixtures alike.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from importlib import resources
from pathlib import Path

POM = resources.files("conformity_devstack") / "kafka_broker" / "pom.xml"

# Settings for a single-node development and test broker.
BROKER_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "10",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",  # consumers join at once instead of after 3 s
    # Offset commits are written at once instead of lingering 5 ms for company (Kafka 4's
    # default): a consumer that commits after each record's transaction waits for every one.
    "group.coordinator.append.linger.ms": "0",
    "num.partitions": "3",
    "auto.create.topics.enable": "true",
    "log.flush.interval.messages": "9223372036854775807",
    "log.retention.hours": "168",
}

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class BrokerError(RuntimeError):
    pass


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise BrokerError(f"no <kafka.version> in {POM}")
    return match.group(1)


def cache_root() -> Path:
    if os.environ.get("CONFORMITY_CACHE_DIR"):
        return Path(os.environ["CONFORMITY_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "conformity"


def ensure_jars(quiet: bool = False) -> Path:
    """The folder of broker jars, fetched with Maven on first use and cached after."""
    pom_text = POM.read_text()
    digest = hashlib.sha256(pom_text.encode()).hexdigest()[:12]
    libs = cache_root() / f"kafka-{kafka_version()}-{digest}" / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError("Maven (mvn) is needed once to fetch the Kafka jars: apt-get install -y maven")
    if not quiet:
        print(f"fetching Apache Kafka {kafka_version()} jars from Maven Central into {libs} ...", file=sys.stderr)
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    with tempfile.TemporaryDirectory() as build:
        pom = Path(build) / "pom.xml"
        pom.write_text(pom_text)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(f"Maven could not fetch the Kafka jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    (staging / ".complete").write_text(kafka_version())
    if libs.exists():
        shutil.rmtree(libs)
    staging.rename(libs)
    return libs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise BrokerError("Java 17+ is needed to run the broker: apt-get install -y default-jre-headless")
    return java


async def metadata_ready(bootstrap: str, timeout: float = 5.0) -> bool:
    """True once the broker answers a metadata request (not merely an open port)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    quiet = logging.getLogger("aiokafka")
    level, quiet.level = quiet.level, logging.CRITICAL  # "Unable connect" is expected while starting
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.describe_cluster(), timeout)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            pass
        quiet.setLevel(level)


def run_coroutine(coro):  # noqa: ANN001, ANN202
    """Run a coroutine from sync code, even when the caller is inside an event loop."""
    result: list[object] = []

    def target() -> None:
        result.append(asyncio.run(coro))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result[0] if result else False


class LocalKafka:
    """One KRaft broker+controller on loopback. Restartable: ports and data are kept."""

    def __init__(self, workdir: Path | str | None = None, port: int = 0, controller_port: int = 0, heap: str = "512m"):
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="conformity-kafka-"))
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "kafka.log"

    def _write_config(self) -> Path:
        settings = dict(BROKER_SETTINGS)
        settings.update(
            {
                "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
                "log.dirs": str(self.workdir / "data"),
            }
        )
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.workdir / "log4j2.properties").write_text(LOG4J2)
        return path

    def _jvm(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            _java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp", f"{libs}/*", main, *args,
        ]

    def start(self, timeout: float = 120.0) -> LocalKafka:
        if self.process and self.process.poll() is None:
            return self
        libs = ensure_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.workdir / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                self._jvm(libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), "--standalone"),
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )
            if fmt.returncode != 0:
                raise BrokerError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        log = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            self._jvm(libs, "kafka.Kafka", str(config)),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"Kafka exited with {self.process.returncode}; log {self.log_file}:\n{self._tail()}")
            if run_coroutine(metadata_ready(self.bootstrap_servers)):
                return self
            time.sleep(0.3)
        self.stop()
        raise BrokerError(f"Kafka did not answer metadata requests within {timeout:.0f}s; log {self.log_file}:\n{self._tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        if not self.process or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)  # controlled shutdown
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformity-broker", description="The platform's local Kafka broker")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the broker jars into the cache (once)")
    run = sub.add_parser("run", help="run a broker in the foreground until Ctrl-C")
    run.add_argument("--port", type=int, default=9092)
    run.add_argument("--controller-port", type=int, default=0)
    run.add_argument("--dir", type=Path, default=Path("var/kafka"))
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(ensure_jars())
            return 0
        broker = LocalKafka(args.dir, port=args.port, controller_port=args.controller_port).start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Kafka {kafka_version()} ready at {broker.bootstrap_servers} (log: {broker.log_file})", flush=True)
    try:
        wait_for_interrupt()
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
