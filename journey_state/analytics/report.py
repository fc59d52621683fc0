"""Render a computed dashboard as a self-contained HTML page (templates/report.html, charts
embedded as base64 PNG), JSON, or CSV (one row per metric value: section, dimension, key,
metric, value)."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.axes import Axes  # imported at run time only when charts are drawn

FORMATS = ("html", "json", "csv")


def to_json(dash: dict[str, Any]) -> str:
    return json.dumps(dash, indent=2, default=str)


# -- CSV ------------------------------------------------------------------------------------


def csv_rows(dash: dict[str, Any]) -> Iterator[tuple[str, str, str, str, Any]]:
    for s in dash["funnel"]["stages"]:
        for k in ("reached", "entered_in_period", "stalled", "drop_off_rate", "conversion_to_next", "current", "at_risk", "dormant"):
            yield "funnel", "stage", s["stage"], k, s[k]
    for s in dash["time_in_stage"]["stages"]:
        for k in ("count", "median_s", "p90_s", "ongoing"):
            yield "time_in_stage", "stage", s["stage"], k, s[k]
    for c in dash["cohorts"]["cohorts"]:
        yield "cohorts", "cohort", c["week"], "size", c["size"]
        for w in c["weeks"]:
            yield "cohorts", "cohort", c["week"], f"active_rate_week_{w['week']}", w["active_rate"]
            yield "cohorts", "cohort", c["week"], f"retained_rate_week_{w['week']}", w["retained_rate"]
    fb = dash["feedback"]
    for k, v in fb["overall"].items():
        yield "feedback", "all", "all", k, v
    for dim in ("stage", "channel", "week"):
        for row in fb[f"by_{dim}"]:
            for k in ("nps", "nps_answers", "csat", "csat_answers"):
                yield "feedback", dim, row[dim], k, row[k]
    for s in dash["touchpoints"]["stages"]:
        yield "touchpoints", "stage", s["stage"], "touchpoints", s["touchpoints"]
        for c in s["channels"]:
            yield "touchpoints", "stage_channel", f"{s['stage']}/{c['channel']}", "count", c["count"]
        for q in s["top_questions"]:
            yield "touchpoints", "stage_intent", f"{s['stage']}/{q['intent']}", "count", q["count"]
    for o in dash["offers"]["offers"]:
        for k in ("impressions", "reach", "redemptions", "redemption_rate"):
            yield "offers", "offer", o["offer_id"], k, o[k]
        for st in o["stages"]:
            for k in ("impressions", "reach", "redemptions", "redemption_rate"):
                yield "offers", "offer_stage", f"{o['offer_id']}/{st['stage']}", k, st[k]
    for k in ("codes_issued", "referred_contacts", "referred_reached_purchase", "referred_purchase_rate"):
        yield "referrals", "all", "all", k, dash["referrals"][k]
    h = dash["handoffs"]
    yield "handoffs", "all", "all", "count", h["count"]
    for part in ("wait", "handling"):
        for k in ("median_s", "p90_s"):
            yield "handoffs", "all", "all", f"{part}_{k}", h[part][k]
    yield "handoffs", "all", "all", "csat_after", h["csat_after"]
    for t in h["by_trigger"]:
        yield "handoffs", "trigger", t["trigger"], "share", t["share"]
    for s in dash["attribution"]["stages"]:
        for kind, key in (("answers", "intent"), ("offers", "offer_id")):
            for a in s[kind]:
                for k in ("exposed", "exposed_rate", "unexposed", "unexposed_rate", "lift"):
                    yield "attribution_correlation", f"{s['stage']}_{key}", a[key], k, a[k]
    for c in dash["journey_map"]["columns"]:
        yield "journey_map", "stage", c["stage"], "valence", c["emotion"]["valence"]
        for k in ("complaints", "fallbacks", "handoffs"):
            yield "journey_map", "stage", c["stage"], k, c["pain_points"][k]


def to_csv(dash: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "dimension", "key", "metric", "value"))
    for row in csv_rows(dash):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


# -- charts -----------------------------------------------------------------------------------


def charts(dash: dict[str, Any]) -> dict[str, str]:
    labels = [s["label"] for s in dash["funnel"]["stages"]]
    out: dict[str, str] = {}

    def funnel(ax: Axes) -> None:
        ax.bar(labels, [s["reached"] for s in dash["funnel"]["stages"]], color="#3b7dd8")
        ax.set_title("Contacts reaching each stage")
        ax.tick_params(axis="x", labelsize=8)

    def times(ax: Axes) -> None:
        stages = dash["time_in_stage"]["stages"]
        xs = range(len(stages))
        ax.bar([x - 0.2 for x in xs], [s["median_h"] or 0 for s in stages], width=0.4, label="median")
        ax.bar([x + 0.2 for x in xs], [s["p90_h"] or 0 for s in stages], width=0.4, label="p90")
        ax.set_xticks(list(xs), [s["label"] for s in stages], fontsize=8)
        ax.set_ylabel("hours")
        ax.set_title("Time in stage")
        ax.legend()

    def emotion(ax: Axes) -> None:
        curve = dash["journey_map"]["emotion_curve"]
        ax.plot(labels, [c["valence"] if c["valence"] is not None else float("nan") for c in curve], marker="o", color="#d8703b")
        ax.axhline(0, color="#999", linewidth=0.8)
        ax.set_ylim(-2, 2)
        ax.set_title("Emotion curve (valence, angry -2 .. excited +2)")
        ax.tick_params(axis="x", labelsize=8)

    def cohorts(ax: Axes) -> None:
        for c in dash["cohorts"]["cohorts"][-8:]:
            ax.plot([w["week"] for w in c["weeks"]], [w["active_rate"] for w in c["weeks"]], marker=".", label=c["week"])
        ax.set_xlabel("weeks after first contact")
        ax.set_ylabel("share still active")
        ax.set_title("Weekly cohorts")
        ax.legend(fontsize=6)

    def nps(ax: Axes) -> None:
        weeks = dash["feedback"]["by_week"]
        ax.plot([w["week"] for w in weeks], [w["nps"] if w["nps"] is not None else float("nan") for w in weeks], marker="o")
        ax.set_ylim(-100, 100)
        ax.set_title("NPS by week")
        ax.tick_params(axis="x", labelsize=7, rotation=45)

    def channels(ax: Axes) -> None:
        stages = dash["touchpoints"]["stages"]
        names = sorted({c["channel"] for s in stages for c in s["channels"]})
        bottom = [0] * len(stages)
        for name in names:
            values = [next((c["count"] for c in s["channels"] if c["channel"] == name), 0) for s in stages]
            ax.bar([s["label"] for s in stages], values, bottom=bottom, label=name)
            bottom = [a + b for a, b in zip(bottom, values, strict=False)]
        ax.set_title("Touchpoints by channel and stage")
        ax.tick_params(axis="x", labelsize=8)
        ax.legend(fontsize=7)

    def offers(ax: Axes) -> None:
        items = dash["offers"]["offers"]
        ax.barh([o["offer_id"] for o in items], [o["redemption_rate"] or 0 for o in items], color="#5aa469")
        ax.set_xlim(0, 1)
        ax.set_title("Offer redemption rate (share of contacts first shown it who redeemed)")
        ax.tick_params(axis="y", labelsize=7)

    # Imported here: matplotlib costs a second, and only the HTML format draws charts.
    from journey_state.analytics.charts import data_uri, plot_png

    drawn: list[tuple[str, Callable[[Axes], None], bool]] = [
        ("funnel", funnel, True),
        ("time_in_stage", times, True),
        ("emotion", emotion, True),
        ("cohorts", cohorts, bool(dash["cohorts"]["cohorts"])),
        ("nps", nps, bool(dash["feedback"]["by_week"])),
        ("channels", channels, bool(dash["touchpoints"]["total"])),
        ("offers", offers, bool(dash["offers"]["offers"])),
    ]
    for name, draw, wanted in drawn:
        if wanted:
            out[name] = data_uri(plot_png(draw))
    return out


# -- HTML -------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.charts img{max-width:49%;margin:4px 0}.note{color:#666;font-size:.9em}
.empty{padding:16px;background:#fff7e0;border:1px solid #f0d890}.map td{min-width:140px}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _cell(items: list[str]) -> str:
    return "; ".join(items) or "–"


def _tables(dash: dict[str, Any]) -> dict[str, Any]:
    """The rows of every table on the page, formatted; the template lays them out."""
    fb = dash["feedback"]
    h = dash["handoffs"]
    cols = dash["journey_map"]["columns"]
    return {
        "funnel": [[s["label"], s["reached"], _pct(s["conversion_to_next"]), s["stalled"], _pct(s["drop_off_rate"]), s["entered_in_period"], s["current"], s["at_risk"], s["dormant"]]
                   for s in dash["funnel"]["stages"]],
        "time_in_stage": [[s["label"], s["count"], s["median_h"], s["p90_h"], s["ongoing"]] for s in dash["time_in_stage"]["stages"]],
        "cohorts": [[c["week"], c["size"], *[f"{_pct(w['active_rate'])} ({_pct(w['retained_rate'])})" for w in c["weeks"]]] for c in dash["cohorts"]["cohorts"]],
        "feedback": [(dim, [[r[dim], r["nps"], r["nps_answers"], r["csat"], r["csat_answers"]] for r in fb[f"by_{dim}"]])
                     for dim in ("stage", "channel", "week") if fb[f"by_{dim}"]],
        "touchpoints": [[s["label"], s["touchpoints"], ", ".join(f"{c['channel']} {c['count']}" for c in s["channels"]), ", ".join(f"{q['intent']} {q['count']}" for q in s["top_questions"])]
                        for s in dash["touchpoints"]["stages"]],
        "offers": [[o["offer_id"], s["stage"], s["impressions"], s["reach"], s["redemptions"], _pct(s["redemption_rate"])] for o in dash["offers"]["offers"] for s in o["stages"]],
        "triggers": [[t["trigger"], t["count"], _pct(t["share"])] for t in h["by_trigger"]],
        "attribution": [[f"{s['stage']} → {s['next_stage']}", a.get("intent") or a.get("offer_id"), a["exposed"], _pct(a["exposed_rate"]), a["unexposed"], _pct(a["unexposed_rate"]), a["lift"]]
                        for s in dash["attribution"]["stages"] for a in s["answers"][:5] + s["offers"][:3]],
        "journey_map": [
            ["Channels", *[_cell([f"{c['channel']} {_pct(c['share'])}" for c in col["channels"]]) for col in cols]],
            ["Top questions", *[_cell([q["intent"] for q in col["top_questions"]]) for col in cols]],
            ["Emotion (valence)", *[_fmt(col["emotion"]["valence"]) for col in cols]],
            ["Complaints", *[_cell([f"{c['text']} ({c['count']})" for c in col["pain_points"]["top_complaints"]]) for col in cols]],
            ["Fallbacks", *[f"{col['pain_points']['fallbacks']} ({_pct(col['pain_points']['fallback_rate'])})" for col in cols]],
            ["Handoff reasons", *[_cell([f"{x['reason']} ({x['count']})" for x in col["pain_points"]["handoff_reasons"]]) for col in cols]],
            ["Drop-off", *[f"{col['stalled']} ({_pct(col['drop_off_rate'])})" for col in cols]],
        ],
    }


_templates = Environment(
    loader=PackageLoader("journey_state.analytics", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
)
_templates.filters["fmt"] = _fmt


def to_html(dash: dict[str, Any]) -> str:
    title = f"Journey report – {dash['model']['label']}"
    values: dict[str, Any] = {
        "dash": dash,
        "title": title,
        "css": Markup(CSS),
        "scope": ", ".join(f"{k}: {v}" for k, v in dash["filters"].items() if v),
    }
    if not dash["empty"]:
        cohorts = dash["cohorts"]["cohorts"]
        values.update(
            images=charts(dash),
            tables=_tables(dash),
            cohort_weeks=[f"W{k}" for k in range(max((len(c["weeks"]) for c in cohorts), default=0))],
            moments=", ".join(f"{m['label']} ({m['stalled']} stalled)" for m in dash["journey_map"]["moments_of_truth"]),
        )
    return _templates.get_template("report.html").render(values)


def render(dash: dict[str, Any], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    return {"html": to_html, "json": to_json, "csv": to_csv}[fmt](dash)
