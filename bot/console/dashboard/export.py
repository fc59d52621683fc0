"""The journey map of a computed dashboard as a downloadable HTML page or PNG image.

HTML: one self-contained file (inline CSS, the emotion curve as inline SVG), autoescaped by
Jinja. PNG: drawn with the charts helper (journey_state/analytics/charts.py: matplotlib's object API,
no pyplot state, so safe in request threads);
text is drawn with mathtext off, so customer text with `$` stays literal.
"""
from __future__ import annotations

import textwrap
from datetime import datetime, timedelta

from flask import render_template

VALENCE_LABELS = {-2: "angry", -1: "sad", 0: "neutral", 1: "happy", 2: "excited"}
COLUMN_W_IN, LABEL_W_IN, LINE_IN, CURVE_IN = 2.3, 1.3, 0.17, 1.5
WRAP = 30
MAX_LINES = 7


def period(filters: dict) -> tuple[str, str]:
    """First and last day of the filters' period (its `to` is an exclusive instant)."""
    last = datetime.fromisoformat(filters["to"]) - timedelta(microseconds=1)
    return filters["from"][:10], last.date().isoformat()


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _cells(column: dict) -> dict[str, list[str]]:
    """The map's rows for one stage, as short lines of text."""
    pain = column["pain_points"]
    emotion = column["emotion"]
    valence = emotion["valence"]
    return {
        "Touchpoints": [f"{column['touchpoints']} touchpoints"],
        "Channels": [f"{c['channel']} {pct(c['share'])}" for c in column["channels"]] or ["–"],
        "Top questions": [f"{q['intent']} ({q['count']})" for q in column["top_questions"]] or ["–"],
        "Emotion": ["–" if valence is None else f"{valence:+.2f} ({emotion['labelled']} labelled)"],
        "Pain points": [
            *[f"“{c['text']}” ({c['count']})" for c in pain["top_complaints"]],
            f"{pain['complaints']} complaints, {pain['fallbacks']} fallbacks ({pct(pain['fallback_rate'])})",
            *[f"handoff: {r['reason']} ({r['count']})" for r in pain["handoff_reasons"]],
        ],
        "Drop-off": [f"{column['stalled']} of {column['reached']} stalled ({pct(column['drop_off_rate'])})"],
    }


def curve_points(columns: list[dict], step: int = 160, height: int = 120) -> list[dict]:
    """SVG coordinates of the emotion curve: one point per stage with a valence."""
    mid = height / 2
    return [
        {"x": step // 2 + i * step, "y": round(mid - c["emotion"]["valence"] * (mid - 12) / 2, 1), "valence": c["emotion"]["valence"], "label": c["label"]}
        for i, c in enumerate(columns)
        if c["emotion"]["valence"] is not None
    ]


def map_html(dash: dict) -> str:
    jm = dash["journey_map"]
    columns = jm["columns"]
    moments = {m["stage"] for m in jm["moments_of_truth"]}
    return render_template(
        "staff/dashboard_map.html",
        dash=dash,
        jm=jm,
        rows=[(name, [cells[name] for cells in map(_cells, columns)]) for name in _cells(columns[0])] if columns else [],
        columns=columns,
        moments=moments,
        points=curve_points(columns),
        width=160 * len(columns),
        period=period(dash["filters"]),
    )


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, WRAP) or [""])
    return [*out[: MAX_LINES - 1], "…"] if len(out) > MAX_LINES else out


def map_png(dash: dict) -> bytes:
    from matplotlib.patches import Rectangle

    from journey_state.analytics.charts import figure, png_bytes

    jm = dash["journey_map"]
    columns = jm["columns"]
    moments = {m["stage"] for m in jm["moments_of_truth"]}
    cells = [_cells(c) for c in columns]
    row_names = list(cells[0]) if cells else []
    wrapped = {name: [_wrap(c[name]) for c in cells] for name in row_names}
    row_h = {name: (max(len(w) for w in wrapped[name]) + 0.6) * LINE_IN for name in row_names}
    ideas = [line for idea in jm["opportunities"] for line in textwrap.wrap("• " + idea, 40 + 32 * max(1, len(columns)))]
    width = LABEL_W_IN + COLUMN_W_IN * max(1, len(columns)) + 0.3
    title_h, header_h = 0.8, 0.45
    height = title_h + CURVE_IN + header_h + sum(row_h.values()) + 0.5 + LINE_IN * (len(ideas) + 2) + 0.3
    fig = figure(width, height, dpi=100)
    fig.patch.set_facecolor("white")

    def text(x_in, y_in, s, **kw):
        fig.text(x_in / width, 1 - y_in / height, s, parse_math=False, **kw)

    def box(x_in, y_in, w_in, h_in, color):
        fig.add_artist(Rectangle((x_in / width, 1 - (y_in + h_in) / height), w_in / width, h_in / height, transform=fig.transFigure, facecolor=color, edgecolor="#d5d9e0", linewidth=0.6))

    f = dash["filters"]
    scope = f"{dash['model']['label']} · segment: {jm['segment']} · channel: {f['channel'] or 'all'} · {' to '.join(period(f))} (UTC)"
    text(0.15, 0.3, "Customer journey map (from live conversations)", fontsize=14, weight="bold", va="center")
    text(0.15, 0.52, scope, fontsize=8.5, color="#555", va="center")

    left = LABEL_W_IN
    ax = fig.add_axes([left / width, 1 - (title_h + CURVE_IN) / height, COLUMN_W_IN * max(1, len(columns)) / width, (CURVE_IN - 0.15) / height])
    xs = list(range(len(columns)))
    ys = [c["emotion"]["valence"] if c["emotion"]["valence"] is not None else float("nan") for c in columns]
    ax.plot(xs, ys, marker="o", color="#d8703b")
    ax.axhline(0, color="#999", linewidth=0.7)
    ax.set_xlim(-0.5, max(0, len(columns) - 1) + 0.5)
    ax.set_ylim(-2.3, 2.3)
    ax.set_xticks([])
    ax.set_yticks(list(VALENCE_LABELS), list(VALENCE_LABELS.values()), fontsize=7)
    ax.set_title("Emotion curve (mean valence of labelled messages)", fontsize=8.5)
    if not any(c["emotion"]["valence"] is not None for c in columns):
        ax.text(0.5, 0.5, "no emotion labels in this period", transform=ax.transAxes, ha="center", va="center", color="#777", fontsize=8)

    y = title_h + CURVE_IN
    for i, column in enumerate(columns):
        x = left + i * COLUMN_W_IN
        moment = column["stage"] in moments
        box(x, y, COLUMN_W_IN, header_h, "#fde2e2" if moment else "#e8eef8")
        text(x + 0.08, y + 0.18, column["label"], fontsize=10, weight="bold", va="center")
        text(x + 0.08, y + 0.36, f"{column['reached']} reached" + (" · moment of truth" if moment else ""), fontsize=7, color="#a01010" if moment else "#555", va="center")
    y += header_h
    for name in row_names:
        text(0.15, y + 0.12, name, fontsize=8.5, weight="bold", va="top")
        for i, lines in enumerate(wrapped[name]):
            x = left + i * COLUMN_W_IN
            box(x, y, COLUMN_W_IN, row_h[name], "#ffffff")
            text(x + 0.08, y + 0.12, "\n".join(lines), fontsize=7.5, va="top", linespacing=1.25)
        y += row_h[name]
    y += 0.35
    text(0.15, y, "Opportunities", fontsize=10, weight="bold", va="center")
    for line in ideas or ["No opportunity stands out in this period."]:
        y += LINE_IN
        text(0.25, y, line, fontsize=8, va="center")
    return png_bytes(fig)
