"""The platform's own Apache Kafka: KRaft nodes assembled from Maven Central, one or a cluster.

`ensure_jars()` copies the broker's jars (pinned in kafka_broker/pom.xml, with a logging
backend) into a cache folder once; later starts download nothing. `LocalKafka` formats the
storage of its nodes (`kafka_config` says how each is configured), starts one JVM per node on
free loopback ports, waits until a metadata request succeeds, and stops them cleanly; a node
can be killed and started again alone. Logs are kept in each node's folder (`kafka.log`).

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
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

from conformity_devstack.kafka_config import ADMIN, SCRAM, Credentials, NodePorts, node_settings, properties
from conformity_operators.kafka_provisioning import PRINCIPALS, TopicLayout, provision
from conformity_shared.kafka_access import KafkaAccess

POM = resources.files("conformity_devstack") / "kafka_broker" / "pom.xml"

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


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka makes one (`kafka-storage random-uuid`): URL-safe base64 of a
    random UUID, never starting with "-", which the storage tool would read as an option (one
    id in 64 did, and the broker then failed to format)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


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


async def metadata_ready(bootstrap: str, timeout: float = 5.0, **client: object) -> bool:
    """True once the cluster answers a metadata request (not merely an open port).

    `client` are aiokafka's connection settings (SASL mechanism, user and password).
    """
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **client)
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


class KafkaNode:
    """One broker+controller process of a local cluster; restartable on the same ports and data."""

    def __init__(self, ports: NodePorts, workdir: Path, heap: str) -> None:
        self.ports = ports
        self.workdir = workdir
        self.heap = heap
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> int:
        return self.ports.node_id

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports.client}"

    @property
    def config(self) -> Path:
        return self.workdir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.workdir / "kafka.log"

    @property
    def formatted(self) -> bool:
        return (self.workdir / "data" / "meta.properties").exists()

    def jvm(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            _java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp", f"{libs}/*", main, *args,
        ]

    def write_config(self, settings: dict[str, str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(properties(settings))
        (self.workdir / "log4j2.properties").write_text(LOG4J2)

    def format(self, libs: Path, cluster_id: str, credentials: Credentials | None) -> None:
        scram = credentials.scram_arguments() if credentials else []
        done = subprocess.run(
            self.jvm(libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config), *scram),
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise BrokerError(f"formatting Kafka storage of node {self.node_id} failed:\n{done.stdout}{done.stderr}")

    def launch(self, libs: Path) -> None:
        if self.is_running():
            return
        log = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            self.jvm(libs, "kafka.Kafka", str(self.config)),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BrokerError(f"Kafka node {self.node_id} exited with {self.process.returncode}; "
                              f"log {self.log_file}:\n{self.tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        if not self.is_running():
            self.process = None
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)  # controlled shutdown: leadership moves first
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the node ends at once, as when its machine dies."""
        if self.is_running():
            assert self.process is not None
            self.process.kill()
            self.process.wait()
        self.process = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class LocalKafka:
    """A local KRaft cluster of `nodes` broker+controllers on loopback (one by default).

    Restartable, as a whole or node by node: ports, data and credentials are kept in `workdir`.
    Secure by default, as production is: every listener needs SASL/SCRAM and the authorizer
    denies what no ACL allows. `credentials` holds the users (`ADMIN` and every principal of the
    platform) and their passwords, `client_settings(user)` what an aiokafka client of that user
    passes, and `service_env()` what the platform's processes are given to find theirs. Once
    started it is provisioned as a deployment is (`conformity_operators.kafka_provisioning`):
    every topic with its replication, and the access rules.
    """

    def __init__(
        self,
        workdir: Path | str | None = None,
        port: int = 0,
        controller_port: int = 0,
        heap: str = "512m",
        *,
        nodes: int = 1,
        secure: bool = True,
        users: Iterable[str] = PRINCIPALS,
        partitions: int | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="conformity-kafka-"))
        self.secure = secure
        self.users = tuple(users)
        self.partitions = partitions or (3 if nodes == 1 else 6)
        self.credentials: Credentials | None = None
        self.nodes = [
            KafkaNode(self._ports(i, nodes, port, controller_port), self._node_dir(i, nodes), heap)
            for i in range(1, nodes + 1)
        ]

    def _ports(self, node_id: int, nodes: int, port: int, controller_port: int) -> NodePorts:
        first = node_id == 1
        return NodePorts(node_id, (port if first and port else free_port()), free_port(),
                         (controller_port if first and controller_port else free_port()))

    def _node_dir(self, node_id: int, nodes: int) -> Path:
        # A single node keeps the folder layout of earlier versions (kafka.log at the top).
        return self.workdir if nodes == 1 else self.workdir / f"node-{node_id}"

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def is_running(self) -> bool:
        """True while every node's process runs."""
        return all(node.is_running() for node in self.nodes)

    def client_settings(self, user: str = ADMIN) -> dict[str, str]:
        """aiokafka connection settings for `user` ({} on a broker without security)."""
        if not self.secure:
            return {}
        assert self.credentials is not None, "start the cluster first"
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": SCRAM,
                "sasl_plain_username": user, "sasl_plain_password": self.credentials.of(user)}

    @property
    def credentials_file(self) -> Path:
        return self.workdir / "credentials.json"

    def access(self, user: str = ADMIN) -> KafkaAccess:
        if not self.secure:
            return KafkaAccess()
        assert self.credentials is not None, "start the cluster first"
        return KafkaAccess("SASL_PLAINTEXT", user, self.credentials.of(user))

    def service_env(self) -> dict[str, str]:
        """The settings a platform process needs to reach this broker as its own principal."""
        env = {"CONFORMITY_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}
        if self.secure:
            env.update({"CONFORMITY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                        "CONFORMITY_KAFKA_CREDENTIALS_FILE": str(self.credentials_file)})
        return env

    def layout(self) -> TopicLayout:
        factor = min(len(self.nodes), 3)
        return TopicLayout(self.partitions, factor, 2 if factor >= 3 else 1)

    def start(self, timeout: float = 120.0) -> LocalKafka:
        self.launch(timeout)
        provision(self.bootstrap_servers, self.access(), self.layout())
        return self

    def launch(self, timeout: float = 120.0) -> LocalKafka:
        """Start every node (formatting their storage the first time) and wait until the cluster answers."""
        libs = ensure_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.secure:
            self.credentials = Credentials.load_or_create(self.credentials_file, self.users)
        ports = [node.ports for node in self.nodes]
        for node in self.nodes:
            node.write_config(node_settings(node.ports, ports, node.workdir / "data", self.credentials))
        if not all(node.formatted for node in self.nodes):
            cluster_id = new_cluster_id()
            for node in self.nodes:
                node.format(libs, cluster_id, self.credentials)
        for node in self.nodes:
            node.launch(libs)
        self.wait_ready(timeout)
        return self

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Start one node again (after `kill_node` or `stop_node`), and wait until the cluster answers."""
        self.node(node_id).launch(ensure_jars())
        self.wait_ready(timeout, self.node(node_id).address)

    def stop_node(self, node_id: int) -> None:
        self.node(node_id).stop()

    def kill_node(self, node_id: int) -> None:
        self.node(node_id).kill()

    def wait_ready(self, timeout: float = 120.0, bootstrap: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                node.check_alive()
            if run_coroutine(metadata_ready(bootstrap or self.bootstrap_servers, **self.client_settings())):
                return
            time.sleep(0.3)
        self.stop()
        raise BrokerError(f"Kafka did not answer metadata requests within {timeout:.0f}s; "
                          f"log {self.log_file}:\n{self.nodes[0].tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.stop(timeout)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_interrupt(on_ready: Callable[[], object] | None = None) -> None:
    """Block until Ctrl-C or SIGTERM; `on_ready` is called once both are handled."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        if on_ready:
            on_ready()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    # Stopping has begun: a second signal (make passing one on, a second Ctrl-C) must not cut the
    # shutdown short and leave the services and the broker running without their parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformity-broker", description="The platform's local Kafka broker")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the broker jars into the cache (once)")
    run = sub.add_parser("run", help="run a broker (or a cluster) in the foreground until Ctrl-C")
    run.add_argument("--port", type=int, default=9092, help="the first node's client port")
    run.add_argument("--controller-port", type=int, default=0)
    run.add_argument("--nodes", type=int, default=1, help="brokers in the cluster (3 for a replicated one)")
    run.add_argument("--dir", type=Path, default=Path("var/kafka"))
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(ensure_jars())
            return 0
        broker = LocalKafka(args.dir, port=args.port, controller_port=args.controller_port, nodes=args.nodes).start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Kafka {kafka_version()} ready at {broker.bootstrap_servers} ({args.nodes} node(s); log: {broker.log_file})",
          flush=True)
    try:
        wait_for_interrupt()
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
