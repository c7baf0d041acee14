"""Server-rendered SVG plots for the curator dashboards (no JavaScript, no CDN).

Each function takes plain numbers and labels and returns one ``<svg>``
element as a string, safe to put in a template with ``|safe``: every label is
XML-escaped here. Colours come from presentation attributes and CSS classes
(``static/css/audit.css``), never ``style=`` attributes, so the pages keep the
CSP ``style-src 'self'``. Every mark carries a ``<title>`` (a hover tooltip in
browsers, read by screen readers) and the chart itself has a title and a
description via ``aria-labelledby``.

* ``histogram`` — counts per bin (one ``rect.bin`` per bin), an optional
  threshold marker.
* ``bar_chart`` — horizontal bars with optional intervals (error bars) and
  a reference line; one ``rect.hbar`` per bar (not ``.bar``: curation.css sizes those) with a value.
* ``line_chart`` — one or more series over a numeric or date axis.
* ``heat_map`` — a matrix of cells (``rect.cell``) with a colour scale legend,
  row and column labels; missing values drawn as ``rect.cell.missing``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = [
    "Bar",
    "Series",
    "bar_chart",
    "heat_map",
    "histogram",
    "histogram_counts",
    "line_chart",
    "covering_ticks",
    "nice_ticks",
]

_ids = itertools.count(1)
FONT = 11  # px in viewBox units

# Series colours (Okabe–Ito, readable for colour-blind viewers).
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"]


def _fmt(value: float, digits: int = 3) -> str:
    """A number for a label: up to ``digits`` significant digits, no trailing zeros."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def _n(value: float) -> str:
    """A coordinate: two decimals at most."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _open(width: float, height: float, title: str, desc: str, css: str) -> tuple[str, str]:
    uid = next(_ids)
    tid, did = f"plot-{uid}-title", f"plot-{uid}-desc"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot {escape(css)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" aria-labelledby="{tid} {did}" '
        f'font-size="{FONT}" font-family="system-ui, sans-serif">'
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>'
    )
    return head, "</svg>"


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "", extra: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{cls}{extra}>{escape(text)}</text>'


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def covering_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Like ``nice_ticks`` but the last tick is at or above ``hi`` (an axis that holds every value)."""
    ticks = nice_ticks(lo, hi, count)
    if len(ticks) >= 2 and ticks[-1] < hi:
        ticks.append(round(ticks[-1] + (ticks[1] - ticks[0]), 12))
    return ticks


# ------------------------------------------------------------------ histogram


def histogram_counts(
    values: Sequence[float], *, bins: int = 20, lo: float | None = None, hi: float | None = None
) -> tuple[list[float], list[int]]:
    """``bins + 1`` equal-width edges over [lo, hi] and the count per bin.

    Like ``numpy.histogram``: every bin is half-open except the last, which
    includes ``hi``; values outside [lo, hi] and non-finite values are not
    counted. With no values and no range the range is [0, 1].
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo = min(finite) if lo is None and finite else (0.0 if lo is None else float(lo))
    hi = max(finite) if hi is None and finite else (lo + 1.0 if hi is None else float(hi))
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    edges = [lo + i * width for i in range(bins)] + [hi]
    counts = [0] * bins
    for v in finite:
        if v < lo or v > hi:
            continue
        index = min(int((v - lo) / width), bins - 1)
        # Floating point: a value on an inner edge belongs to the bin it opens.
        if index + 1 < bins and v >= edges[index + 1]:
            index += 1
        counts[index] += 1
    return edges, counts


def histogram(
    values: Sequence[float] = (),
    *,
    edges: Sequence[float] | None = None,
    counts: Sequence[int] | None = None,
    bins: int = 20,
    lo: float | None = None,
    hi: float | None = None,
    title: str,
    x_label: str = "",
    y_label: str = "count",
    marker: float | None = None,
    marker_label: str = "",
    width: float = 640,
    height: float = 240,
) -> str:
    """A histogram of ``values`` (or of counts already binned: ``edges`` and
    ``counts``); bins at or above ``marker`` get class ``over``."""
    if edges is not None and counts is not None:
        if len(edges) != len(counts) + 1 or not counts:
            raise ValueError("edges must be one longer than counts")
        edges, counts = [float(e) for e in edges], [int(c) for c in counts]
        bins = len(counts)
    else:
        edges, counts = histogram_counts(values, bins=bins, lo=lo, hi=hi)
    left, right, top, bottom = 48, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(counts) if counts and max(counts) > 0 else 1
    y_ticks = [t for t in covering_ticks(0, peak, 4) if t == int(t)]
    y_max = max(peak, y_ticks[-1] if y_ticks else peak)
    x0, x1 = edges[0], edges[-1]

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - v / y_max * plot_h

    total = sum(counts)
    head, tail = _open(width, height, title, f"{total} values in {bins} bins from {_fmt(x0)} to {_fmt(x1)}.", "hist")
    parts = [head, '<g class="axis">', *_y_axis(y_ticks, sy, left=left, right=left + plot_w, base=top + plot_h)]
    for t in nice_ticks(x0, x1, 6):
        x = sx(t)
        parts.append(f'<line x1="{_n(x)}" y1="{_n(top + plot_h)}" x2="{_n(x)}" y2="{_n(top + plot_h + 4)}"/>')
        parts.append(_text(x, top + plot_h + 15, _fmt(t), anchor="middle"))
    if x_label:
        parts.append(_text(left + plot_w / 2, height - 6, x_label, anchor="middle", css="label"))
    if y_label:
        parts.append(
            _text(12, top + plot_h / 2, y_label, anchor="middle", css="label", extra=_rotate(12, top + plot_h / 2))
        )
    parts.append('</g><g class="bins">')
    for i, count in enumerate(counts):
        a, b = edges[i], edges[i + 1]
        x, w = sx(a), max(sx(b) - sx(a) - 1, 0.5)
        y = sy(count)
        over = marker is not None and a >= marker
        last = "]" if i == bins - 1 else ")"
        parts.append(
            f'<rect class="bin{" over" if over else ""}" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" '
            f'height="{_n(top + plot_h - y)}" data-count="{count}"><title>{escape(f"[{_fmt(a)}, {_fmt(b)}{last}: {count}")}</title></rect>'
        )
    parts.append("</g>")
    if marker is not None and x0 <= marker <= x1:
        x = sx(marker)
        label = marker_label or f"threshold {_fmt(marker)}"
        parts.append(
            f'<g class="marker"><line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{_n(top + plot_h)}">'
            f"<title>{escape(label)}</title></line>{_text(x + 3, top + 10, label)}</g>"
        )
    parts.append(tail)
    return "".join(parts)


def _y_axis(ticks, sy, *, left: float, right: float, base: float) -> list[str]:
    """The x axis line, then a grid line and a label per y tick."""
    out = [f'<line x1="{_n(left)}" y1="{_n(base)}" x2="{_n(right)}" y2="{_n(base)}"/>']
    for t in ticks:
        y = sy(t)
        out.append(f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}"/>')
        out.append(_text(left - 4, y + 4, _fmt(t), anchor="end"))
    return out


def _rotate(x: float, y: float) -> str:
    return f' transform="rotate(-90 {_n(x)} {_n(y)})"'


# ------------------------------------------------------------------ bar chart


@dataclass
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""  # extra text for the tooltip (e.g. "n = 40")
    css: str = ""  # extra class on the bar, e.g. "flagged"


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    value_label: str = "",
    domain: tuple[float, float] | None = None,
    reference: float | None = None,
    reference_label: str = "",
    width: float = 640,
    row_height: float = 22,
    label_width: float = 160,
) -> str:
    """Horizontal bars from 0 (or the domain's start) to each value, with the
    interval [low, high] drawn as an error bar when given. A bar whose value
    is None is listed with "no value" and no rect."""
    values = [v for b in bars for v in (b.value, b.low, b.high) if v is not None and math.isfinite(v)]
    if domain is None:
        lo = min([0.0, *values])
        hi = max([0.0, *values]) or 1.0
        domain = (lo, hi)
    d0, d1 = domain
    if d1 == d0:
        d1 = d0 + 1
    top, bottom, right = 8, 34, 16
    plot_w = width - label_width - right
    height = top + bottom + row_height * max(1, len(bars))
    base = min(max(0.0, d0), d1)

    def sx(v: float) -> float:
        v = min(max(v, d0), d1)
        return label_width + (v - d0) / (d1 - d0) * plot_w

    head, tail = _open(width, height, title, f"{len(bars)} bars; {value_label}".strip("; "), "bars")
    parts = [head, '<g class="axis">']
    axis_y = top + row_height * max(1, len(bars))
    parts.append(f'<line x1="{label_width}" y1="{_n(axis_y)}" x2="{_n(label_width + plot_w)}" y2="{_n(axis_y)}"/>')
    for t in nice_ticks(d0, d1, 5):
        x = sx(t)
        parts.append(f'<line class="grid" x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{_n(axis_y)}"/>')
        parts.append(_text(x, axis_y + 14, _fmt(t), anchor="middle"))
    if value_label:
        parts.append(_text(label_width + plot_w / 2, height - 4, value_label, anchor="middle", css="label"))
    parts.append("</g>")
    for i, bar in enumerate(bars):
        y = top + i * row_height
        mid = y + row_height / 2
        label = bar.label if len(bar.label) <= 24 else bar.label[:23] + "…"
        parts.append(f'<g class="row{(" " + escape(bar.css)) if bar.css else ""}">')
        parts.append(_text(label_width - 6, mid + 4, label, anchor="end"))
        tip = f"{bar.label}: {_fmt(bar.value) if bar.value is not None else 'no value'}"
        if bar.low is not None and bar.high is not None:
            tip += f" [{_fmt(bar.low)}, {_fmt(bar.high)}]"
        if bar.note:
            tip += f" · {bar.note}"
        if bar.value is not None and math.isfinite(bar.value):
            a, b = sorted((sx(base), sx(bar.value)))
            cls = "hbar" + (f" {escape(bar.css)}" if bar.css else "")
            parts.append(
                f'<rect class="{cls}" x="{_n(a)}" y="{_n(y + 4)}" width="{_n(max(b - a, 1))}" '
                f'height="{_n(row_height - 8)}"><title>{escape(tip)}</title></rect>'
            )
        else:
            parts.append(_text(label_width + 4, mid + 4, "no value", css="none"))
        if bar.low is not None and bar.high is not None:
            xl, xh = sx(bar.low), sx(bar.high)
            parts.append(
                f'<g class="err"><title>{escape(tip)}</title>'
                f'<line x1="{_n(xl)}" y1="{_n(mid)}" x2="{_n(xh)}" y2="{_n(mid)}"/>'
                f'<line x1="{_n(xl)}" y1="{_n(mid - 5)}" x2="{_n(xl)}" y2="{_n(mid + 5)}"/>'
                f'<line x1="{_n(xh)}" y1="{_n(mid - 5)}" x2="{_n(xh)}" y2="{_n(mid + 5)}"/></g>'
            )
        parts.append("</g>")
    if reference is not None and d0 <= reference <= d1:
        x = sx(reference)
        label = reference_label or _fmt(reference)
        parts.append(
            f'<g class="marker"><line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{_n(axis_y)}">'
            f"<title>{escape(label)}</title></line></g>"
        )
    parts.append(tail)
    return "".join(parts)


# ------------------------------------------------------------------ line chart


@dataclass
class Series:
    name: str
    points: Sequence[tuple[float | dt.date | dt.datetime, float]]


def _as_number(x) -> float:
    if isinstance(x, dt.datetime):
        return x.timestamp()
    if isinstance(x, dt.date):
        return dt.datetime(x.year, x.month, x.day, tzinfo=dt.UTC).timestamp()
    return float(x)


def _x_label(x) -> str:
    if isinstance(x, dt.datetime):
        return x.strftime("%Y-%m-%d %H:%M")
    if isinstance(x, dt.date):
        return x.isoformat()
    return _fmt(x)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: float = 640,
    height: float = 240,
    y_min: float | None = 0.0,
) -> str:
    """Each series as a polyline with a dot (and tooltip) per point, and a legend."""
    points = [(x, y) for s in series for x, y in s.points]
    dates = bool(points) and isinstance(points[0][0], dt.date)
    xs = [_as_number(x) for x, _ in points] or [0.0, 1.0]
    ys = [float(y) for _, y in points] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0 = min(ys) if y_min is None else min(y_min, min(ys))
    y1 = max(ys)
    if y1 == y0:
        y1 = y0 + 1
    y_ticks = covering_ticks(y0, y1, 4)
    y1 = max(y1, y_ticks[-1]) if y_ticks else y1
    left, right, top = 52, 12, 12
    bottom = 40 + 16 * ((len(series) + 2) // 3)
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - y0) / (y1 - y0) * plot_h

    desc = f"{len(series)} series, {len(points)} points."
    head, tail = _open(width, height, title, desc, "lines")
    parts = [head, '<g class="axis">', *_y_axis(y_ticks, sy, left=left, right=left + plot_w, base=top + plot_h)]
    if dates and points:
        firsts = sorted({x for x, _ in points}, key=_as_number)
        shown = [firsts[0], firsts[-1]] if len(firsts) > 1 else firsts
        if len(firsts) > 2:
            shown.insert(1, firsts[len(firsts) // 2])
        for x in shown:
            label = x.date().isoformat() if isinstance(x, dt.datetime) else x.isoformat()
            parts.append(_text(sx(_as_number(x)), top + plot_h + 15, label, anchor="middle"))
    else:
        for t in nice_ticks(x0, x1, 6):
            parts.append(_text(sx(t), top + plot_h + 15, _fmt(t), anchor="middle"))
    if x_label:
        parts.append(_text(left + plot_w / 2, top + plot_h + 30, x_label, anchor="middle", css="label"))
    if y_label:
        parts.append(
            _text(12, top + plot_h / 2, y_label, anchor="middle", css="label", extra=_rotate(12, top + plot_h / 2))
        )
    parts.append("</g>")
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        pts = sorted(((_as_number(x), float(y), x) for x, y in s.points), key=lambda p: p[0])
        coords = " ".join(f"{_n(sx(a))},{_n(sy(b))}" for a, b, _ in pts)
        parts.append(f'<g class="series" data-series="{escape(s.name)}">')
        if len(pts) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for a, b, raw in pts:
            parts.append(
                f'<circle cx="{_n(sx(a))}" cy="{_n(sy(b))}" r="3" fill="{colour}">'
                f"<title>{escape(f'{s.name} · {_x_label(raw)}: {_fmt(b, 4)}')}</title></circle>"
            )
        parts.append("</g>")
    legend_y = top + plot_h + (44 if x_label else 30)
    for index, s in enumerate(series):
        col, row = index % 3, index // 3
        x, y = left + col * (plot_w / 3), legend_y + row * 16
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<g class="legend"><rect x="{_n(x)}" y="{_n(y - 9)}" width="10" height="10" fill="{colour}"/>'
            f"{_text(x + 14, y, s.name)}</g>"
        )
    parts.append(tail)
    return "".join(parts)


# ------------------------------------------------------------------ heat map


def _mix(a: str, b: str, t: float) -> str:
    ra, ga, ba = (int(a[i : i + 2], 16) for i in (1, 3, 5))
    rb, gb, bb = (int(b[i : i + 2], 16) for i in (1, 3, 5))
    return f"#{round(ra + (rb - ra) * t):02x}{round(ga + (gb - ga) * t):02x}{round(ba + (bb - ba) * t):02x}"


def colour_scale(value: float, vmin: float, vmax: float, *, diverging: bool = True) -> str:
    """A fill for ``value``: red → white → blue when diverging (white at the
    middle of the range), white → blue otherwise."""
    t = 0.5 if vmax == vmin else (min(max(value, vmin), vmax) - vmin) / (vmax - vmin)
    if not diverging:
        return _mix("#f7fbff", "#08519c", t)
    if t < 0.5:
        return _mix("#b2182b", "#f7f7f7", t / 0.5)
    return _mix("#f7f7f7", "#2166ac", (t - 0.5) / 0.5)


def heat_map(
    matrix: Sequence[Sequence[float | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
    diverging: bool = True,
    counts: Sequence[Sequence[int | None]] | None = None,
    row_title: str = "",
    col_title: str = "",
    cell: float = 40,
    label_width: float = 150,
) -> str:
    """One square per (row, column) coloured by value, the value written in it,
    a tooltip naming row, column, value (and count), and a colour-scale legend."""
    n_rows, n_cols = len(row_labels), len(col_labels)
    if len(matrix) != n_rows or any(len(r) != n_cols for r in matrix):
        raise ValueError("matrix shape must match the labels")
    top = 100  # rotated column labels
    legend_h = 46
    width = label_width + n_cols * cell + 20
    width = max(width, label_width + 220)
    height = top + n_rows * cell + legend_h
    desc = f"{n_rows} × {n_cols} cells, colour from {_fmt(vmin)} to {_fmt(vmax)}."
    head, tail = _open(width, height, title, desc, "heat")
    parts = [head, '<g class="axis">']
    if col_title:
        parts.append(_text(label_width, 12, col_title, css="label"))
    if row_title:
        parts.append(_text(4, top - 6, row_title, css="label"))
    for j, name in enumerate(col_labels):
        x = label_width + j * cell + cell / 2
        short = name if len(name) <= 18 else name[:17] + "…"
        parts.append(_text(x, top - 6, short, extra=f' transform="rotate(-45 {_n(x)} {_n(top - 6)})"'))
    for i, name in enumerate(row_labels):
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(_text(label_width - 6, top + i * cell + cell / 2 + 4, short, anchor="end"))
    parts.append('</g><g class="cells">')
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            x, y = label_width + j * cell, top + i * cell
            n = counts[i][j] if counts is not None else None
            present = value is not None and math.isfinite(value)
            tip = f"{row_labels[i]} vs {col_labels[j]}: {_fmt(value) if present else 'no data'}"
            if n is not None:
                tip += f" (n = {n})"
            if present:
                fill = colour_scale(value, vmin, vmax, diverging=diverging)
                dark = abs((min(max(value, vmin), vmax) - vmin) / ((vmax - vmin) or 1) - 0.5) > 0.35
                parts.append(
                    f'<g><rect class="cell" x="{_n(x)}" y="{_n(y)}" width="{_n(cell - 2)}" height="{_n(cell - 2)}" '
                    f'fill="{fill}"><title>{escape(tip)}</title></rect>'
                    f"{_text(x + cell / 2 - 1, y + cell / 2 + 3, f'{value:.2f}', anchor='middle', css='dark' if dark else '')}</g>"
                )
            else:
                parts.append(
                    f'<rect class="cell missing" x="{_n(x)}" y="{_n(y)}" width="{_n(cell - 2)}" '
                    f'height="{_n(cell - 2)}"><title>{escape(tip)}</title></rect>'
                )
    parts.append("</g>")
    # Colour scale: five swatches from vmin to vmax, labelled at both ends and the middle.
    ly = top + n_rows * cell + 12
    steps = 10
    sw = 200 / steps
    parts.append('<g class="scale">')
    for k in range(steps):
        v = vmin + (vmax - vmin) * (k + 0.5) / steps
        parts.append(
            f'<rect x="{_n(label_width + k * sw)}" y="{_n(ly)}" width="{_n(sw)}" height="10" '
            f'fill="{colour_scale(v, vmin, vmax, diverging=diverging)}"/>'
        )
    for frac in (0, 0.5, 1):
        v = vmin + (vmax - vmin) * frac
        parts.append(_text(label_width + 200 * frac, ly + 24, _fmt(v), anchor="middle"))
    parts.append(f'<rect class="cell missing" x="{_n(label_width - 60)}" y="{_n(ly)}" width="10" height="10"/>')
    parts.append(_text(label_width - 46, ly + 9, "no data"))
    parts.append("</g>")
    parts.append(tail)
    return "".join(parts)
