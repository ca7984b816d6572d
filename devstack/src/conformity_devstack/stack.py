"""The whole platform on one machine: the local broker and the apps of `apps.APPS` as processes.

`make run` calls `main()`; the end-to-end tests (tests/integration/e2e) use `Stack` to start, kill and
restart services exactly as an operator would: `kill` is SIGKILL (no shutdown code runs),
`restart` starts the process again on the same port, with per-service settings if given.

A process is named by its app (`certificates`) or, for a second replica of a service, by the
app and a replica number (`certificates#2`): replicas share the service's database and settings.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from conformity_devstack.apps import BY_NAME, DEFAULT_PORTS, SERVICES, TOOLS, App


def app_of(process: str) -> App:
    """The app a process runs: `certificates#2` runs certificates."""
    return BY_NAME[process.split("#", 1)[0]]


def replica(service: str, number: int) -> str:
    """The process name of replica `number` (1 is the service's own name)."""
    return service if number == 1 else f"{service}#{number}"
from conformity_devstack.kafka import BrokerError, LocalKafka, free_port, kafka_version, wait_for_interrupt


@dataclass
class Stack:
    workdir: Path
    bootstrap_servers: str
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    # Settings of one service only (`{"certificates": {"CONFORMITY_SUSPENSION_MONTHS": "6"}}`), over `env`.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self, service: str) -> dict[str, str]:
        """The process environment of `service`: the stack's settings, then its own."""
        return {
            **os.environ,
            "CONFORMITY_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "CONFORMITY_DATA_DIR": str(self.workdir),
            **self.env,
            **self.service_env.get(app_of(service).name, {}),
            **self.service_env.get(service, {}),
        }

    def migrate(self, services: tuple[str, ...] = SERVICES) -> None:
        """Run the services' migrations, the one-shot step before they start (`make migrate`)."""
        for service in services:
            done = subprocess.run(
                [sys.executable, "-m", "conformity_shared.migrations", service], env=self.environment(service),
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )
            if done.returncode != 0:
                raise RuntimeError(f"migrations of {service} failed:\n{done.stdout}{done.stderr}")

    def launch(self, service: str) -> subprocess.Popen[bytes]:
        """Start the service's process without waiting for it (same port as before, if any)."""
        port = self.ports.setdefault(service, free_port())
        env = self.environment(service)
        log = open(self.workdir / f"{service}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", app_of(service).factory,
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
             *app_of(service).uvicorn_args],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        return self.processes[service]

    def start_service(self, service: str, timeout: float = 90.0) -> None:
        if app_of(service).service:
            self.migrate((app_of(service).name,))
        self.launch(service)
        self.wait_healthy(service, timeout)

    def is_running(self, service: str) -> bool:
        process = self.processes.get(service)
        return process is not None and process.poll() is None

    def pid(self, service: str) -> int | None:
        process = self.processes.get(service)
        return process.pid if process is not None and process.poll() is None else None

    def kill(self, service: str) -> int | None:
        """SIGKILL: the process ends at once, mid-transaction or mid-publish; returns its pid."""
        pid = self.pid(service)
        self.stop_service(service, signal.SIGKILL)
        return pid

    def restart(self, service: str, env: dict[str, str] | None = None, timeout: float = 90.0) -> None:
        """Stop the service if it runs (SIGTERM), then start it again, with `env` as its own settings if given."""
        self.stop_service(service)
        if env is not None:
            self.service_env[service] = dict(env)
        self.start_service(service, timeout)

    def wait_healthy(self, service: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited with {process.returncode}; see {self.workdir / f'{service}.log'}")
            try:
                with urllib.request.urlopen(self.url(service) + "/health", timeout=3) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{service} not healthy after {timeout:.0f}s; see {self.workdir / f'{service}.log'}")

    def stop_service(self, service: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def start_identity(self, timeout: float = 90.0) -> str:
        """Start the development issuer, and make every app started after it a development app
        that trusts it (and no inline key set); its URL, the issuer the tokens name."""
        issuer = f"http://127.0.0.1:{self.ports.setdefault('identity', free_port())}"
        self.service_env.setdefault("identity", {})["CONFORMITY_DEV_ISSUER_URL"] = issuer
        self.start_service("identity", timeout)
        self.env.update({"CONFORMITY_ENV": "development", "CONFORMITY_OIDC_ISSUER": issuer,
                         "CONFORMITY_OIDC_JWKS": "", "CONFORMITY_OIDC_JWKS_URL": ""})
        return issuer

    def start(self, services: tuple[str, ...] = SERVICES, timeout: float = 90.0) -> Stack:
        """Migrate, start the services side by side, then wait until each answers healthy."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.migrate(tuple(s for s in services if s in SERVICES))
        for service in services:
            self.launch(service)
        for service in services:
            self.wait_healthy(service, timeout)
        return self

    def stop(self) -> None:
        for service in list(self.processes):
            self.stop_service(service)


def _start_platform(stack: Stack, workdir: Path) -> None:
    """The development issuer, migrations, the services, then the tools, which are told where every service is."""
    issuer = stack.start_identity()
    print(f"{'identity':<13}{issuer}   development sign-in, tokens: conformity-token ROLE   log {workdir / 'identity.log'}",
          flush=True)
    stack.migrate()
    for service in SERVICES:
        stack.start_service(service)
        print(f"{service:<13}{stack.url(service)}   docs {stack.url(service)}/docs   log {workdir / (service + '.log')}",
              flush=True)
    stack.env.update({f"CONFORMITY_{s.upper()}_URL": stack.url(s) for s in SERVICES})
    # The dashboard signs its users in through the issuer, which sends them back to this URL.
    stack.env["CONFORMITY_DASHBOARD_URL"] = f"http://127.0.0.1:{stack.ports.setdefault('dashboard', free_port())}"
    stack.env["CONFORMITY_PORTAL_URL"] = f"http://127.0.0.1:{stack.ports.setdefault('portal', free_port())}"
    for tool in (t for t in TOOLS if t != "identity"):
        stack.start_service(tool)
        print(f"{tool:<13}{stack.url(tool)}   log {workdir / (tool + '.log')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformity-stack", description="Run the broker and the platform's apps")
    parser.add_argument("--dir", type=Path, default=Path("var"), help="databases, broker data and logs")
    parser.add_argument("--kafka-port", type=int, default=9092)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker, local_env = None, None
    # A local platform for trying things: the demo may run the due transitions as of a later day.
    stack = Stack(args.dir, bootstrap or "", ports=dict(DEFAULT_PORTS), env={"CONFORMITY_ALLOW_AS_OF": "true"})
    try:
        if not bootstrap:
            print(f"starting Apache Kafka {kafka_version()} (KRaft, one node) ...", flush=True)
            broker = LocalKafka(args.dir / "kafka", port=args.kafka_port).start()
            stack.bootstrap_servers = broker.bootstrap_servers
            stack.env.update(broker.service_env())  # each process connects as its own principal
            local_env = _write_platform_env(args.dir, broker)
        print(f"{'broker':<13}{stack.bootstrap_servers}   (log {args.dir / 'kafka' / 'kafka.log'})", flush=True)
        _start_platform(stack, args.dir)
    except (BrokerError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        _stop(stack, broker, local_env)
        return 1
    print("platform running; Ctrl-C or SIGTERM stops everything", flush=True)
    try:
        wait_for_interrupt()
    finally:
        print("stopping ...", flush=True)
        _stop(stack, broker, local_env)
    return 0


def _write_platform_env(workdir: Path, broker: LocalKafka) -> Path:
    """How the tools (`conformity events tail`, `dlq`, `trace`) reach this broker from another
    terminal: its address and credentials file, read by their settings while the stack runs."""
    path = workdir / "platform.env"
    path.write_text("".join(f"CONFORMITY_{k}={v}\n" for k, v in {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_CREDENTIALS_FILE": broker.credentials_file.resolve(),
    }.items()))
    path.chmod(0o600)
    return path


def _stop(stack: Stack, broker: LocalKafka | None, local_env: Path | None = None) -> None:
    if local_env:
        local_env.unlink(missing_ok=True)
    stack.stop()
    if broker:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
