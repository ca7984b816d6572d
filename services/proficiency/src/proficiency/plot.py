"""The round report's plot: every result, the assigned value and the ±2σ_pt and ±3σ_pt bands.

Pure: numbers in, SVG or PNG bytes out. Drawn on a bare matplotlib ``Figure`` with the Agg
canvas, not through pyplot, so that no global backend or figure registry is shared between
concurrent requests.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from proficiency.domain import Signal

Format = Literal["svg", "png"]
MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}

_COLOURS = {Signal.ACCEPTABLE: "#2e7d32", Signal.WARNING: "#ef8f00", Signal.ACTION: "#c62828"}


@dataclass(frozen=True)
class PlotPoint:
    """One participant's result, anonymous; ``own`` marks the result of the lab looking."""

    value: float
    signal: Signal
    own: bool = False


def render(
    *,
    title: str,
    unit: str,
    assigned_value: float,
    sigma_pt: float,
    points: Sequence[PlotPoint],
    score_kind: str = "z",
    caption: str = "",
    fmt: Format = "svg",
) -> bytes:
    """Results ordered by value, coloured by signal, over the acceptance (±2σ_pt) and
    warning (±3σ_pt) bands around the assigned value x_pt; ``caption`` says how x_pt and σ_pt
    were obtained, under the plot and in the image's description (metadata)."""
    fig = Figure(figsize=(9.5, 4.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ordered = sorted(points, key=lambda p: p.value)
    _draw_bands(ax, assigned_value, sigma_pt, unit)
    _draw_results(ax, ordered)
    _frame(ax, ordered, assigned_value, sigma_pt, unit)
    ax.set_title(f"{title}\n$\\sigma_{{pt}}$ = {sigma_pt:.6g} {unit}; signals from {score_kind}", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # outside the data
    ax.grid(axis="y", alpha=0.3)
    if caption:
        fig.supxlabel(caption, fontsize=8, wrap=True)
    buffer = io.BytesIO()
    # No creation date in the SVG, so that one round always renders to the same bytes.
    metadata = {"Date": None} if fmt == "svg" else {}
    fig.savefig(buffer, format=fmt, metadata=metadata | ({"Description": caption} if caption else {}))
    return buffer.getvalue()


def _draw_bands(ax: Axes, x_pt: float, s: float, unit: str) -> None:
    """The acceptable band (±2σ_pt), the warning bands (2 to 3σ_pt) and their limits around x_pt."""
    ax.axhspan(x_pt - 2 * s, x_pt + 2 * s, color=_COLOURS[Signal.ACCEPTABLE], alpha=0.12, lw=0)
    for low, high in ((x_pt - 3 * s, x_pt - 2 * s), (x_pt + 2 * s, x_pt + 3 * s)):
        ax.axhspan(low, high, color=_COLOURS[Signal.WARNING], alpha=0.15, lw=0)
    ax.axhline(x_pt, color="black", lw=1.5, label=f"assigned value $x_{{pt}}$ = {x_pt:.6g} {unit}")
    for k, style, colour in ((2, "--", _COLOURS[Signal.WARNING]), (3, ":", _COLOURS[Signal.ACTION])):
        ax.axhline(x_pt + k * s, ls=style, color=colour, lw=1, label=rf"$x_{{pt}} \pm {k}\sigma_{{pt}}$")
        ax.axhline(x_pt - k * s, ls=style, color=colour, lw=1)


def _draw_results(ax: Axes, ordered: Sequence[PlotPoint]) -> None:
    """Every result at its rank, coloured by its signal; the looking lab's own result circled."""
    ranks = list(range(1, len(ordered) + 1))
    for signal, colour in _COLOURS.items():
        chosen = [(r, p.value) for r, p in zip(ranks, ordered) if p.signal == signal]
        if chosen:
            ax.scatter(
                [r for r, _ in chosen], [v for _, v in chosen], color=colour, s=36, zorder=3,
                edgecolors="black", linewidths=0.4, label=f"{signal} ({len(chosen)})",
            )
    for rank, point in zip(ranks, ordered):
        if point.own:
            ax.scatter([rank], [point.value], s=160, facecolors="none", edgecolors="black", lw=1.5, zorder=4)
            ax.annotate("your result", (rank, point.value), textcoords="offset points", xytext=(8, 8))


def _frame(ax: Axes, ordered: Sequence[PlotPoint], x_pt: float, s: float, unit: str) -> None:
    """Axes that show every result and at least x_pt ± 3.5σ_pt, with their labels."""
    values = [p.value for p in ordered]
    low = min([x_pt - 3.5 * s, *values])
    high = max([x_pt + 3.5 * s, *values])
    margin = 0.05 * (high - low)
    ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(0, len(ordered) + 1)
    if len(ordered) <= 40:
        ax.set_xticks(list(range(1, len(ordered) + 1)))
    ax.set_xlabel("participants, ordered by result (anonymised)")
    ax.set_ylabel(f"result ({unit})")
