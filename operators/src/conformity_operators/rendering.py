"""How the CLI draws things with Rich: event lines, causal trees, dead letters, the demo's story."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from conformity_operators.demo import FlowOutcome
from conformity_operators.dlq import DeadLetter
from conformity_operators.events_view import EventView, OrganisationNames, format_delay, format_time, summary, tone
from conformity_operators.causal_trace import Trace, TraceNode

TONE_STYLE = {"alarm": "bold red", "good": "green", "muted": "dim", "info": "cyan"}
SERVICE_STYLE = {"approval": "magenta", "certificates": "blue", "supervision": "yellow", "proficiency": "green", "notifications": "cyan"}


def event_line(view: EventView, names: OrganisationNames | None = None) -> Text:
    """`2025-11-23 01:30:12.345  certificate.suspended.v1  CCC-…  certificate … · reason spot_check_failed`."""
    line = Text()
    line.append(format_time(view.time), style="dim")
    line.append("  ")
    line.append(f"{view.type:<44}", style=TONE_STYLE[tone(view)])
    line.append(f"{view.subject:<38}", style="bold")
    line.append(" ")
    line.append(summary(view, names))
    return line


def _node_label(node: TraceNode, focus: str | None, names: OrganisationNames | None) -> Text:
    e = node.event
    label = Text()
    label.append(f"{format_delay(node.since_cause):>9}  ", style="dim")
    label.append(e.type, style=TONE_STYLE[tone(e)])
    label.append(f"  [{e.service}]", style=SERVICE_STYLE.get(e.service, "white"))
    label.append(f"  {e.subject}", style="bold")
    facts = summary(e, names)
    if facts:
        label.append(f"\n{' ' * 11}{facts}", style="default")
    label.append(f"\n{' ' * 11}event {e.id}", style="dim")
    if e.id == focus:
        label.append("   ◀ the event you asked about", style="bold reverse")
    if node.cause_missing:
        label.append(f"\n{' ' * 11}cause {e.causation_id} is not on the topics", style="yellow")
    for dead in node.dead_letters:
        label.append(
            f"\n{' ' * 11}dead-lettered by {dead.headers.get('dlq_consumer', '?')}: {dead.headers.get('dlq_error', '')}",
            style="bold red",
        )
    return label


def trace_tree(found: Trace, names: OrganisationNames | None = None) -> Tree:
    title = Text()
    title.append("request ", style="bold")
    title.append(found.correlation_id, style="bold cyan")
    title.append(
        f"   {found.size} event(s) over {format_delay(found.duration).lstrip('+')}"
        + (f", from {format_time(found.started)}" if found.started else ""),
        style="dim",
    )
    tree = Tree(title, guide_style="bright_black")

    def add(branch: Tree, node: TraceNode) -> None:
        child = branch.add(_node_label(node, found.focus, names))
        for grandchild in node.children:
            add(child, grandchild)

    for root in found.roots:
        add(tree, root)
    return tree


def dead_letter_table(letters: Sequence[DeadLetter]) -> Table:
    table = Table(title=f"{len(letters)} dead letter(s)", title_justify="left", expand=False)
    table.add_column("id (ce_id)", no_wrap=True)
    table.add_column("consumer", style="magenta")
    table.add_column("type")
    table.add_column("from", no_wrap=True, style="dim")
    table.add_column("dead since", style="dim")
    table.add_column("error", style="red")
    for d in letters:
        table.add_row(d.id, d.consumer, d.record.type, d.original_position, d.dead_since[:23], d.error)
    return table


def dead_letter_panel(letter: DeadLetter) -> Panel:
    r = letter.record
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in (
        ("event", letter.id), ("type", r.type), ("consumer", letter.consumer), ("error", letter.error),
        ("dead letter at", r.position), ("originally at", letter.original_position), ("dead since", letter.dead_since),
        ("correlation", r.correlation_id), ("key", r.key or ""),
    ):
        facts.add_row(label, Text(value, style="red" if label == "error" else ""))
    headers = Table("header", "value", title="original headers", title_justify="left")
    for k, v in r.original_headers:
        headers.add_row(k, v.decode("utf-8", "replace"))
    body = r.value.decode("utf-8", "replace")
    with suppress(ValueError):  # not JSON: shown as it is
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return Panel(
        Group(facts, Text(""), headers, Text("\nbody (original bytes)", style="bold"), Text(body)),
        title=f"dead letter {letter.id}", title_align="left",
    )


class RichNarrator:
    """The demo's story on the terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def section(self, title: str, text: str) -> None:
        self.console.print()
        self.console.rule(f"[bold]{title}", align="left")
        self.console.print(f"[dim]{text}[/]")

    def step(self, text: str) -> None:
        self.console.print(f"  → {text}", highlight=False)

    def done(self, text: str) -> None:
        self.console.print(f"  [green]✓[/] {text}", highlight=False)

    def degraded(self, text: str) -> None:
        self.console.print(f"  [yellow]![/] [yellow]{text}[/]", highlight=False)

    def failed(self, text: str) -> None:
        self.console.print(f"  [red]✗ {text}[/]", highlight=False)

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        columns = (SpinnerColumn(), TextColumn("[bold]{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.description}"))
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task("", total=total, label=label)

            def advance(text: str) -> None:
                bar.update(task, advance=1, description=text)
                bar.console.print(f"  [green]✓[/] {text}", highlight=False)

            yield advance

    def cascade(self, found: Trace, names: OrganisationNames) -> None:
        self.console.print("  [bold]the cascade, read back from the topics[/] (as `conformity trace` shows it):")
        self.console.print(trace_tree(found, names))


def outcome_table(outcomes: Sequence[FlowOutcome]) -> Table:
    style = {"shown": "green", "explained": "cyan", "degraded": "yellow", "failed": "red"}
    table = Table(title="the five flows", title_justify="left")
    table.add_column("flow")
    table.add_column("result")
    table.add_column("detail")
    for o in outcomes:
        table.add_row(o.flow, Text(o.status, style=style.get(o.status, "")), o.detail)
    return table
