"""The `conformity` command: parse the arguments, call the operator modules, print.

Exit codes: 0 done, 1 not found or refused, 2 usage, 3 the broker or a service is unreachable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console

from conformity_shared import credentials
from conformity_shared.auth import Role
from conformity_operators import broker, certificate_verification, dlq as dead_letters
from conformity_operators.demo import Demo, summary_counts
from conformity_operators.errors import NotFound, OperatorError
from conformity_operators.events_view import EventFilter, OrganisationNames, as_json
from conformity_operators.platform_api import PlatformApi, TokenSigner, http_clients
from conformity_operators.rendering import (
    RichNarrator,
    dead_letter_panel,
    dead_letter_table,
    event_line,
    outcome_table,
    trace_tree,
)
from conformity_operators.kafka_provisioning import ProvisioningSettings, provision
from conformity_operators.settings import OperatorSettings
from conformity_operators.causal_trace import trace as find_trace

T = TypeVar("T")

app = typer.Typer(
    name="conformity",
    help="The regulator's operator tools: watch the event streams, trace cascades, handle dead letters, "
    "issue local tokens, run the demo.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
events_app = typer.Typer(help="The event streams.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: events a service could not take.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens for local use (development only).", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(dlq_app, name="dlq")
app.add_typer(token_app, name="token")
kafka_app = typer.Typer(help="The broker: topics, principals and their access rules.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")

Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", "-b", help="Kafka bootstrap servers (default: CONFORMITY_KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)"),
]
Service = Annotated[str | None, typer.Option("--service", "-s", help="only this consumer's dead letters (approval, certificates, ...)")]


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _bootstrap(given: str | None) -> str:
    return given or OperatorSettings().kafka_bootstrap_servers


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run one command; an operator error becomes one message and its exit code, never a traceback."""
    try:
        return asyncio.run(work)
    except OperatorError as exc:
        _err().print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("CONFORMITY_DEBUG"):
            raise
        _err().print(
            f"[bold red]unexpected error:[/] {exc.__class__.__name__}: {exc} (set CONFORMITY_DEBUG=1 for the traceback)",
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


# --- events -----------------------------------------------------------------------------------


@events_app.command("tail")
def tail(
    topic: Annotated[list[str] | None, typer.Option("--topic", "-t", help="a topic or service name; repeatable (default: the four event streams)")] = None,
    type_: Annotated[list[str] | None, typer.Option("--type", help="ce_type, or a glob like 'certificate.*'; repeatable")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="only this aggregate (ce_subject)")] = None,
    org: Annotated[str | None, typer.Option("--org", help="only events naming this organisation (USCC)")] = None,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id", "-c", help="only this request's events")] = None,
    as_json_lines: Annotated[bool, typer.Option("--json", help="one JSON object per line (headers + payload)")] = False,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="start at the oldest event instead of now")] = False,
    end: Annotated[bool, typer.Option("--end", help="read what the topics hold now (from the beginning) and stop, instead of following")] = False,
    count: Annotated[int | None, typer.Option("--count", "-n", min=1, help="stop after this many matching events")] = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Follow the event streams live, one readable line per event (time, type, subject, key facts)."""
    selected = EventFilter(tuple(type_ or ()), subject, org, correlation_id)
    _run(_tail(_bootstrap(bootstrap_servers), broker.resolve_topics(topic), selected, as_json_lines, from_beginning, end, count))


async def _tail(
    bootstrap: str, topics: list[str], selected: EventFilter, as_json_lines: bool, from_beginning: bool, end: bool,
    count: int | None,
) -> None:
    out = _out()
    names = OrganisationNames()
    shown = 0
    if end:
        stream: Any = _listed(await broker.read_topics(bootstrap, topics))
    else:
        def ready() -> None:
            if not as_json_lines:
                _err().print(f"[dim]following {', '.join(topics)} at {bootstrap}; Ctrl-C stops[/]", soft_wrap=True)

        stream = broker.follow_topics(bootstrap, topics, from_beginning=from_beginning, on_ready=ready)
    async for view in stream:
        names.learn(view)
        if not selected.matches(view):
            continue
        if as_json_lines:
            sys.stdout.write(json.dumps(as_json(view), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            out.print(event_line(view, names), soft_wrap=True)
        shown += 1
        if count is not None and shown >= count:
            break


async def _listed(views: list[Any]) -> Any:
    for view in views:
        yield view


# --- trace ------------------------------------------------------------------------------------


@app.command("trace")
def trace_command(
    ident: Annotated[str, typer.Argument(help="a correlation id (X-Correlation-ID of the request) or an event id (ce_id)")],
    as_json_tree: Annotated[bool, typer.Option("--json", help="the tree as JSON")] = False,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """The causal tree of a request across services, with the time between each step."""
    _run(_trace(_bootstrap(bootstrap_servers), ident, as_json_tree))


async def _trace(bootstrap: str, ident: str, as_json_tree: bool) -> None:
    wanted = list(broker.resolve_topics(None)) + sorted(await dead_letters.dead_letter_topics(bootstrap))
    views = await broker.read_topics(bootstrap, wanted)
    names = OrganisationNames()
    for view in views:
        names.learn(view)
    found = find_trace(views, ident)
    if found is None:
        raise NotFound(
            f"no event on {', '.join(broker.resolve_topics(None))} has the correlation id or event id {ident} "
            f"(read {len(views)} records at {bootstrap})"
        )
    if as_json_tree:
        sys.stdout.write(json.dumps(found.to_json(names), ensure_ascii=False, indent=2) + "\n")
    else:
        _out().print(trace_tree(found, names), soft_wrap=True)


# --- dead letters -----------------------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(service: Service = None, bootstrap_servers: Bootstrap = None) -> None:
    """Every dead letter (of all consumers, or one), with its error."""
    _run(_dlq_list(_bootstrap(bootstrap_servers), service))


async def _dlq_list(bootstrap: str, service: str | None) -> None:
    letters = await dead_letters.list_dead_letters(bootstrap, service)
    if not letters:
        _out().print(f"no dead letters{f' of {service}' if service else ''} at {bootstrap}")
        return
    _out().print(dead_letter_table(letters))


@dlq_app.command("show")
def dlq_show(
    ident: Annotated[str, typer.Argument(help="the dead event's ce_id (or a prefix), or a position like certificates.dlq:0:12")],
    service: Service = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """One dead letter: why, from where, its original headers and bytes."""
    _run(_dlq_show(_bootstrap(bootstrap_servers), ident, service))


async def _dlq_show(bootstrap: str, ident: str, service: str | None) -> None:
    letter = dead_letters.find(await dead_letters.list_dead_letters(bootstrap, service), ident)
    _out().print(dead_letter_panel(letter))


@dlq_app.command("replay")
def dlq_replay(
    ident: Annotated[str, typer.Argument(help="the dead event's ce_id (or a prefix), or its position")],
    service: Service = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Republish the original bytes and headers to the original topic (consumers de-duplicate by ce_id)."""
    _run(_dlq_replay(_bootstrap(bootstrap_servers), ident, service))


async def _dlq_replay(bootstrap: str, ident: str, service: str | None) -> None:
    letter = dead_letters.find(await dead_letters.list_dead_letters(bootstrap, service), ident)
    topic, partition, offset = await dead_letters.replay(bootstrap, letter)
    _out().print(
        f"replayed {letter.record.type} {letter.id} (dead-lettered by {letter.consumer}) to {topic}:{partition}:{offset}",
        soft_wrap=True,
    )


# --- tokens -----------------------------------------------------------------------------------


@token_app.command("issue")
def token_issue(
    role: Annotated[Role, typer.Option("--role", "-r", help="who the token speaks for", case_sensitive=False)],
    org: Annotated[str | None, typer.Option("--org", help="organisation code (USCC): required for agency and lab")] = None,
    inspector_id: Annotated[str | None, typer.Option("--inspector-id", help="required for inspector")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="the observer's id: required for observer")] = None,
    hours: Annotated[float, typer.Option("--hours", min=0.01, help="validity")] = 12.0,
) -> None:
    """Print a bearer token signed with the development issuer's key (accepted in development only)."""
    try:
        token = development_signer()(role, org=org, inspector_id=inspector_id, subject=subject,
                                     ttl=dt.timedelta(hours=hours))
    except OperatorError as exc:
        _err().print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except ValueError as exc:
        _err().print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    typer.echo(token)


def development_signer() -> TokenSigner:
    """Signs with the development issuer's key (what `conformity-token` uses): the demo plays every
    party, which only a development platform lets a tool do. The development stack is imported
    here, not above, because production installs of the tools have no such key, nor the package."""
    try:
        from conformity_devstack import dev_keys
    except ImportError:
        raise OperatorError("tokens are signed with the development issuer's key, and the development "
                            "stack (conformity-devstack) is not installed here: sign in with the platform's issuer") from None
    key = dev_keys.KeyStore().signing_key()
    return functools.partial(dev_keys.access_token, key, issuer=dev_keys.development_issuer())


# --- demo -------------------------------------------------------------------------------------


@kafka_app.command("provision")
def kafka_provision() -> None:
    """Create the platform's topics, its principals' SCRAM users (those whose password is given as
    CONFORMITY_KAFKA_PASSWORD_<PRINCIPAL>) and their access rules, as the broker's admin. Idempotent."""
    settings = ProvisioningSettings()
    passwords = settings.passwords(os.environ)
    try:
        provision(settings.kafka_bootstrap_servers, settings.admin_access(), settings.layout(), passwords)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator
        _err().print(f"[red]provisioning failed:[/] {exc}")
        raise typer.Exit(1) from None
    _out().print(f"provisioned {settings.kafka_bootstrap_servers}: topics, {len(passwords)} user(s), access rules")


@app.command("demo")
def demo(
    seed: Annotated[int | None, typer.Option("--seed", help="the random seed of the world (organisation codes)")] = None,
    cascades: Annotated[bool, typer.Option("--cascades/--no-cascades", help="draw each flow's causal tree from the topics")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for each consequence")] = 45.0,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Seed a small realistic world through the public APIs and play the five flows of DESIGN.md."""
    _run(_demo(OperatorSettings(), bootstrap_servers, seed, cascades, timeout))


async def _demo(settings: OperatorSettings, bootstrap: str | None, seed: int | None, cascades: bool, timeout: float) -> None:
    out = _out()
    clients = http_clients(settings.service_urls())
    try:
        api = PlatformApi(clients, development_signer())
        brokers = (bootstrap or settings.kafka_bootstrap_servers) if cascades else None
        outcomes = await Demo(api, RichNarrator(out), bootstrap=brokers, seed=seed, timeout=timeout).run()
    finally:
        for client in clients.values():
            await client.aclose()
    out.print()
    out.print(outcome_table(outcomes))
    counts = summary_counts(outcomes)
    out.print(
        f"\nwatch it on the dashboard: [bold]{settings.dashboard_url}[/]   "
        "replay any cascade with [bold]conformity trace <request id>[/]"
    )
    if counts.get("failed"):
        raise OperatorError(f"{counts['failed']} flow(s) failed; see above")


@app.command("webhook-receiver")
def webhook_receiver(
    secret: Annotated[list[str], typer.Option("--secret", help="the endpoint's whsec_ secret (repeat during a rotation)")],
    port: Annotated[int, typer.Option("--port", help="listens on 127.0.0.1:PORT; register http://127.0.0.1:PORT/webhooks")] = 8900,
    fail_ratio: Annotated[float, typer.Option("--fail-ratio", min=0, max=1, help="answer 500 to this share of deliveries")] = 0.0,
    delay: Annotated[float, typer.Option("--delay", min=0, help="seconds before answering")] = 0.0,
) -> None:
    """Receive the notifications service's webhooks locally, verifying their signatures (Standard Webhooks)."""
    from conformity_operators.webhook_receiver import Receipt, serve_forever

    out = _out()

    def show(receipt: Receipt) -> None:
        data = receipt.json().get("data", {})
        out.print(f"{receipt.webhook_id}  {data.get('certificate_number')}  {data.get('old_status')} → "
                  f"{data.get('new_status')}  ({data.get('reason')})  answered {receipt.status}")

    out.print(f"receiving on http://127.0.0.1:{port}/webhooks (signatures verified; Ctrl-C stops)")
    try:
        asyncio.run(serve_forever(port, secret, fail_ratio, delay, show))
    except KeyboardInterrupt:
        pass


# --- digital certificates ---------------------------------------------------------------------

VERDICT_EXIT = {"valid": 0, "invalid": 1, "incomplete": 4}  # 3 is "a service does not answer"


@app.command("verify-certificate")
def verify_certificate_command(
    file: Annotated[Path, typer.Argument(help="a certificate PDF (its credential is attached) or a credential (vc+jwt)",
                                         exists=True, dir_okay=False, readable=True)],
    offline: Annotated[bool, typer.Option("--offline", help="fetch nothing: check what the file and --jwks allow")] = False,
    jwks: Annotated[Path | None, typer.Option("--jwks", help="the platform's published keys (JWKS file) instead of fetching them")] = None,
    keys_url: Annotated[str | None, typer.Option("--keys-url", help="where the keys are published (default: the certificates service's /.well-known/jwks.json)")] = None,
    allow_development_keys: Annotated[bool, typer.Option("--allow-development-keys", help="accept dev- keys (a development platform's)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """Check a digital certificate: signature, key, validity dates and, online, its live status.
    Exit 0 valid, 1 invalid, 4 when something could not be checked (offline)."""
    settings = OperatorSettings()
    url = keys_url or settings.certificates_url.rstrip("/") + credentials.JWKS_PATH
    report = _run(_verify_certificate(file.read_bytes(), None if offline else url, jwks, allow_development_keys))
    verdict = report.as_dict()
    if as_json:
        _out().print_json(json.dumps({**verdict, "certificate": certificate_verification.summary(report.claims)}))
    else:
        out = _out()
        for key, value in certificate_verification.summary(report.claims).items():
            if value:
                out.print(f"{key:16} {value}", soft_wrap=True)
        out.print()
        marks = {"passed": "[green]passed[/]", "failed": "[bold red]FAILED[/]", "not checked": "[yellow]not checked[/]"}
        for check in report.checks:
            out.print(f"{check.name:22} {marks[check.outcome]:12} {check.detail}", soft_wrap=True)
        out.print(f"\nverdict: [bold]{verdict['verdict']}[/]")
    raise typer.Exit(VERDICT_EXIT[verdict["verdict"]])


async def _verify_certificate(data: bytes, keys_url: str | None, jwks: Path | None, allow_development_keys: bool) -> Any:
    try:
        keys = certificate_verification.read_jwks(jwks) if jwks else None
        if keys_url is None:
            return await certificate_verification.verify_certificate(
                data, http=None, keys_url=None, jwks=keys, allow_development_keys=allow_development_keys)
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
            return await certificate_verification.verify_certificate(
                data, http=http, keys_url=keys_url, jwks=keys, allow_development_keys=allow_development_keys)
    except certificate_verification.Unreadable as exc:
        raise OperatorError(str(exc)) from None


def main() -> None:
    broker.quiet_kafka_logs()
    app()


if __name__ == "__main__":
    main()
