"""Charts drawn on the server as inline SVG: no script, no CDN, readable without colour, printable.

Each chart is an <svg role="img"> with a <title> and a text label on every bar, so a
screen reader and a printed page carry the numbers, not just the shapes.
"""

from markupsafe import Markup, escape

WIDTH = 640
BAR_GAP = 4


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"


def columns(
    title: str, points: list[tuple[str, float]], *, chart_id: str, unit: str = ""
) -> Markup:
    """Vertical bars, one per label (months), each with its value above it."""
    height, top, bottom, left = 220, 24, 36, 8
    plot = height - top - bottom
    n = max(len(points), 1)
    step = (WIDTH - 2 * left) / n
    peak = max((value for _label, value in points), default=0) or 1
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH - left}" y2="{top + plot}" class="axis"/>',
    ]
    # Every other label when there are many months, so that they do not overlap.
    every = 1 if n <= 12 else 2 if n <= 24 else 3
    for i, (label, value) in enumerate(points):
        bar = plot * value / peak
        x = left + i * step + BAR_GAP / 2
        w = max(step - BAR_GAP, 1)
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot - bar:.1f}" width="{w:.1f}" '
            f'height="{bar:.1f}"><title>{escape(label)}: {escape(_fmt(value))}{escape(unit)}'
            "</title></rect>"
        )
        if value and n <= 24:
            parts.append(
                f'<text class="value" x="{x + w / 2:.1f}" y="{top + plot - bar - 4:.1f}" '
                f'text-anchor="middle">{escape(_fmt(value))}</text>'
            )
        if i % every == 0:
            parts.append(
                f'<text class="label" x="{x + w / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every interpolated text went through escape())


def bars(title: str, points: list[tuple[str, float]], *, chart_id: str, unit: str = "") -> Markup:
    """Horizontal bars with the label on the left and the value at the end (rankings)."""
    row, label_width, right = 26, 180, 80
    height = max(len(points), 1) * row + 8
    peak = max((value for _label, value in points), default=0) or 1
    span = WIDTH - label_width - right
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(points):
        y = 4 + i * row
        w = span * value / peak
        short = label if len(label) <= 14 else label[:13] + "…"
        parts.append(
            f'<text class="label" x="{label_width - 6}" y="{y + row / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(short)}</text>'
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{max(w, 1):.1f}" '
            f'height="{row - 8}"><title>{escape(label)}: {escape(_fmt(value))}{escape(unit)}'
            "</title></rect>"
            f'<text class="value" x="{label_width + w + 6:.1f}" y="{y + row / 2 + 4:.1f}">'
            f"{escape(_fmt(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every interpolated text went through escape())
