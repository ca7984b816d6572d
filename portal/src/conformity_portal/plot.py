"""The closed round's plot, drawn on the server as inline SVG (no charting library in the
browser; the pages' policy runs only the portal's own files): every participant's score in
value order, anonymised, the lab's own point marked, and the bands of ISO 13528's signals
(|z| ≤ 2 acceptable, 2 < |z| < 3 warning, |z| ≥ 3 action).

The SVG is an image with its `<title>` and `<desc>` (what a screen reader says); the page puts
a table with the same points beside it. Text is escaped: nothing a service answers becomes markup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 28
SMALLEST_RANGE = 4.0  # the axis always shows the action limits (±3) with a margin
LARGEST_RANGE = 10.0  # beyond this a score is drawn at the edge, as an arrow-like marker


@dataclass(frozen=True)
class Point:
    rank: int  # 1-based, in score order
    score: float
    signal: str
    yours: bool


def points_of(distribution: Sequence[dict[str, Any]]) -> list[Point]:
    """The report's anonymised distribution as plotted: in score order, each with its rank; a
    result without a score (none in a closed round) is left out."""
    scored = [d for d in distribution if isinstance(d.get("score"), int | float) and math.isfinite(d["score"])]
    scored.sort(key=lambda d: d["score"])
    return [Point(i, float(d["score"]), str(d.get("signal", "")), bool(d.get("yours"))) for i, d in enumerate(scored, 1)]


def axis_range(points: Sequence[Point]) -> float:
    """Half the vertical axis: at least ±4, wide enough for every score up to ±10."""
    widest = max((abs(p.score) for p in points), default=0.0)
    return min(max(SMALLEST_RANGE, math.ceil(widest + 0.5)), LARGEST_RANGE)


def render(points: Sequence[Point], *, title: str, description: str, score_kind: str, you: str,
           ident: str = "round-plot") -> Markup:
    """The SVG of the scores; `title`, `description` and `you` in the page's language."""
    r = axis_range(points)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(z: float) -> float:
        clamped = max(-r, min(r, z))
        return round(TOP + (r - clamped) / (2 * r) * inner_h, 2)

    def x(rank: int) -> float:
        return round(LEFT + (rank - 0.5) / max(len(points), 1) * inner_w, 2)

    parts = [
        f'<svg id="{ident}" class="round-plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    # The signal bands: action beyond ±3, warning between 2 and 3, acceptable within ±2.
    for low, high, band in ((3, r, "action"), (2, 3, "warning"), (-2, 2, "acceptable"), (-3, -2, "warning"),
                            (-r, -3, "action")):
        parts.append(f'<rect class="band band-{band}" x="{LEFT}" y="{y(high)}" width="{inner_w}" '
                     f'height="{round(y(low) - y(high), 2)}"/>')
    for z in sorted({-r, -3, -2, 0, 2, 3, r}):
        label = f"{z:+g}" if z else "0"
        parts.append(f'<line class="grid{" zero" if z == 0 else ""}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                     f'y1="{y(z)}" y2="{y(z)}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(z) + 4}" text-anchor="end">{label}</text>')
    parts.append(f'<text class="axis-name" x="{LEFT}" y="{HEIGHT - 8}">{escape(score_kind)}</text>')
    for p in points:
        clipped = abs(p.score) > r
        classes = f"point signal-{escape(p.signal)}{' yours' if p.yours else ''}{' clipped' if clipped else ''}"
        if p.yours:
            parts.append(f'<circle class="{classes}" cx="{x(p.rank)}" cy="{y(p.score)}" r="8" data-rank="{p.rank}"/>')
            anchor = "end" if p.rank > len(points) / 2 else "start"
            dx = -12 if anchor == "end" else 12
            parts.append(f'<text class="you" x="{x(p.rank) + dx}" y="{y(p.score) + 4}" '
                         f'text-anchor="{anchor}">{escape(you)} {p.score:.2f}</text>')
        else:
            parts.append(f'<circle class="{classes}" cx="{x(p.rank)}" cy="{y(p.score)}" r="4" data-rank="{p.rank}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
