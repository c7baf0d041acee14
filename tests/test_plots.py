"""curation.plots: every chart is well-formed SVG with the right number of
marks, escapes its labels, and bins like numpy."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from curation import plots

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"{NS}title").get("id") == title_id
    assert root.find(f"{NS}desc").get("id") == desc_id
    assert "style=" not in svg  # CSP style-src 'self': no inline styles
    return root


def rects(root, cls: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if cls in (r.get("class") or "").split()]


@pytest.mark.parametrize("bins", [1, 5, 13])
def test_histogram_counts_match_numpy(bins):
    rng = np.random.default_rng(bins)
    values = list(rng.normal(size=500)) + [0.0, 1.0, -1.0]
    edges, counts = plots.histogram_counts(values, bins=bins)
    np_counts, np_edges = np.histogram(values, bins=bins)
    assert counts == list(np_counts)
    assert edges == pytest.approx(list(np_edges))
    edges, counts = plots.histogram_counts(values, bins=bins, lo=-1, hi=1)
    assert counts == list(np.histogram(values, bins=bins, range=(-1, 1))[0])


def test_histogram_counts_hand_case():
    # Edges 0, 1, 2, 3, 4: 1 opens the second bin, 4 closes the last, 5 and NaN are out.
    edges, counts = plots.histogram_counts([0, 0.5, 1, 3.99, 4, 5, float("nan")], bins=4, lo=0, hi=4)
    assert edges == [0, 1, 2, 3, 4]
    assert counts == [2, 1, 0, 2]
    assert plots.histogram_counts([], bins=2) == ([0.0, 0.5, 1.0], [0, 0])
    assert plots.histogram_counts([3, 3], bins=2)[1] == [0, 2]  # one value: a unit range around it
    with pytest.raises(ValueError):
        plots.histogram_counts([1], bins=0)


def test_histogram_svg_bins_marker_and_tooltips():
    svg = plots.histogram([0, 0.5, 1, 3.99, 4], bins=4, lo=0, hi=4, title="T <&>", marker=2, marker_label="cut")
    root = parse(svg)
    bins = rects(root, "bin")
    assert len(bins) == 4
    assert [int(b.get("data-count")) for b in bins] == [2, 1, 0, 2]
    assert [("over" in b.get("class")) for b in bins] == [False, False, True, True]
    assert bins[0].find(f"{NS}title").text == "[0, 1): 2"
    assert bins[-1].find(f"{NS}title").text == "[3, 4]: 2"
    assert root.find(f"{NS}title").text == "T <&>"
    assert root.find(f".//{NS}g[@class='marker']") is not None
    # Taller bars for larger counts.
    heights = [float(b.get("height")) for b in bins]
    assert heights[0] == max(heights) and heights[2] == 0


def test_histogram_from_stored_bins():
    root = parse(plots.histogram(edges=[0, 1, 2], counts=[3, 1], title="stored"))
    assert [int(b.get("data-count")) for b in rects(root, "bin")] == [3, 1]
    with pytest.raises(ValueError):
        plots.histogram(edges=[0, 1], counts=[3, 1], title="bad")


def test_bar_chart_bars_intervals_and_missing_values():
    bars = [
        plots.Bar("pairwise", 0.4, 0.2, 0.6, note="n = 30"),
        plots.Bar("thumb", None),
        plots.Bar("rank <b>", -0.1, -0.3, 0.2, css="flagged"),
    ]
    root = parse(plots.bar_chart(bars, title="α", domain=(-0.5, 1), reference=0.667))
    drawn = rects(root, "hbar")
    assert len(drawn) == 2
    assert len(root.findall(f".//{NS}g[@class='err']")) == 2
    assert rects(root, "flagged") == [drawn[1]]
    assert drawn[0].find(f"{NS}title").text == "pairwise: 0.4 [0.2, 0.6] · n = 30"
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "rank <b>" in texts and "no value" in texts
    # A negative bar extends left of zero, a positive one right of it.
    x0 = float(drawn[0].get("x"))
    assert float(drawn[1].get("x")) + float(drawn[1].get("width")) == pytest.approx(x0, abs=0.02)
    # Equal scale: 0.4 is four times as long as 0.1.
    assert float(drawn[0].get("width")) == pytest.approx(4 * float(drawn[1].get("width")), abs=0.05)


def test_line_chart_series_and_dates():
    days = [dt.date(2026, 1, d) for d in (1, 2, 5)]
    series = [plots.Series("pairwise", list(zip(days, [1, 3, 6], strict=True))), plots.Series("thumb", [(days[1], 2)])]
    root = parse(plots.line_chart(series, title="progress", y_label="annotations"))
    groups = root.findall(f".//{NS}g[@class='series']")
    assert [g.get("data-series") for g in groups] == ["pairwise", "thumb"]
    assert len(groups[0].findall(f"{NS}polyline")) == 1 and len(groups[1].findall(f"{NS}polyline")) == 0
    assert len(root.findall(f".//{NS}circle")) == 4
    tips = [c.find(f"{NS}title").text for c in root.iter(f"{NS}circle")]
    assert "pairwise · 2026-01-05: 6" in tips
    # x positions follow the dates: day 5 is three times as far from day 2 as day 2 from day 1.
    xs = [float(c.get("cx")) for c in groups[0].findall(f"{NS}circle")]
    assert (xs[2] - xs[1]) == pytest.approx(3 * (xs[1] - xs[0]))


def test_heat_map_cells_labels_and_scale():
    matrix = [[None, 0.25, 1.0], [0.75, None, None], [0.0, None, None]]
    counts = [[0, 4, 2], [4, 0, 0], [2, 0, 0]]
    root = parse(plots.heat_map(matrix, ["a", "b", "c"], ["a", "b", "c"], title="PS", counts=counts))
    cells = root.find(f".//{NS}g[@class='cells']")
    filled = [r for r in cells.iter(f"{NS}rect") if r.get("class") == "cell"]
    missing = [r for r in cells.iter(f"{NS}rect") if r.get("class") == "cell missing"]
    assert len(filled) == 4 and len(missing) == 5
    assert filled[0].find(f"{NS}title").text == "a vs b: 0.25 (n = 4)"
    # Diverging scale: 0 red, 0.5 white, 1 blue.
    assert plots.colour_scale(0, 0, 1) == "#b2182b"
    assert plots.colour_scale(0.5, 0, 1) == "#f7f7f7"
    assert plots.colour_scale(1, 0, 1) == "#2166ac"
    assert filled[1].get("fill") == "#2166ac"  # (a, c) = 1.0
    scale = root.find(f".//{NS}g[@class='scale']")
    assert len(scale.findall(f"{NS}rect")) == 11  # ten swatches and the "no data" one
    with pytest.raises(ValueError):
        plots.heat_map([[1.0]], ["a", "b"], ["a"], title="bad")


def test_nice_ticks():
    assert plots.nice_ticks(0, 1, 5) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert plots.nice_ticks(0, 47, 4) == [0, 20, 40]
    assert plots.nice_ticks(-0.3, 0.25, 5) == pytest.approx([-0.2, 0, 0.2])  # step 0.2 (raw 0.11)
    assert plots.nice_ticks(2, 2) == [2]
    assert plots.nice_ticks(0, 9, 4) == [0, 2.5, 5, 7.5]
    assert plots.covering_ticks(0, 9, 4) == [0, 2.5, 5, 7.5, 10]
    assert plots.covering_ticks(0, 10, 4) == [0, 2.5, 5, 7.5, 10]
