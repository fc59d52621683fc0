/* Journey dashboard: fetches /staff/dashboard/data.json for the filters and draws it with Chart.js.
 * All data goes into the page as text nodes (never innerHTML): intents, complaints and
 * handoff reasons come from customers. Text nodes still obey bidi controls (U+202E reverses
 * what follows), so every text passes through plain() first (journey_state/bidi.py). */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  var form = document.getElementById("filters");
  var message = document.getElementById("dashboard-message");
  var results = document.getElementById("results");
  var FIELDS = ["from", "to", "channel", "model", "persona"];
  var COLORS = ["#3b7dd8", "#d8703b", "#5aa469", "#a05ad8", "#d8b33b", "#3bb7d8", "#d83b6e", "#7a8699"];
  var charts = {};
  var latest = 0;

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = "system-ui, sans-serif";

  // -- small DOM helpers -------------------------------------------------------------------

  var BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

  function plain(value) {
    return String(value).replace(BIDI_CONTROLS, "");
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = plain(attrs[k]);
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(plain(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function byId(id) { return document.getElementById(id); }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number" && !Number.isInteger(v)) return String(Math.round(v * 100) / 100);
    return String(v);
  }

  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + "%"; }

  function minutes(s) { return s === null || s === undefined ? "–" : (Math.round(s / 6) / 10) + " min"; }

  function table(id, headers, rows, emptyText) {
    var t = clear(byId(id));
    var head = el("tr");
    headers.forEach(function (h) { head.appendChild(el("th", { text: h })); });
    t.appendChild(el("thead", {}, head));
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) { tr.appendChild(el("td", {}, cell === null || cell === undefined ? "–" : cell)); });
      body.appendChild(tr);
    });
    if (!rows.length) body.appendChild(el("tr", {}, el("td", { colspan: String(headers.length), className: "empty-note", text: emptyText || "No data for this period." })));
    t.appendChild(body);
  }

  function facts(id, pairs) {
    var dl = clear(byId(id));
    pairs.forEach(function (p) {
      dl.appendChild(el("dt", { text: p[0] }));
      dl.appendChild(el("dd", { text: fmt(p[1]), "data-key": p[2] || "" }));
    });
  }

  // -- charts ------------------------------------------------------------------------------

  function draw(id, config, empty) {
    if (charts[id]) charts[id].destroy();
    var canvas = byId(id);
    var box = canvas.parentNode;
    box.classList.toggle("is-empty", !!empty);
    box.setAttribute("data-empty-text", "No data for this period");
    charts[id] = new Chart(canvas, config);
  }

  function bars(labels, sets, opts) {
    opts = opts || {};
    return {
      type: "bar",
      data: {
        labels: labels,
        datasets: sets.map(function (s, i) {
          return Object.assign({ backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length] }, s);
        }),
      },
      options: {
        indexAxis: opts.horizontal ? "y" : "x",
        scales: Object.assign({
          x: { stacked: !!opts.stacked },
          // Counts get whole-number ticks; hours keep their fractions.
          y: { stacked: !!opts.stacked, beginAtZero: true, ticks: { precision: opts.yTitle ? undefined : 0 }, title: { display: !!opts.yTitle, text: opts.yTitle || "" } },
        }, opts.scales || {}),
        plugins: { title: { display: !!opts.title, text: opts.title || "" }, legend: { display: sets.length > 1 } },
      },
    };
  }

  function feedbackChart(id, rows, key, title) {
    var labels = rows.map(function (r) { return r[key]; });
    var config = bars(labels, [
      { label: "NPS", data: rows.map(function (r) { return r.nps; }), yAxisID: "y" },
      { label: "CSAT (1–5)", data: rows.map(function (r) { return r.csat; }), yAxisID: "y2", type: "line", borderColor: COLORS[1], backgroundColor: COLORS[1] },
    ], {
      title: title,
      scales: {
        y: { min: -100, max: 100, title: { display: true, text: "NPS" } },
        y2: { position: "right", min: 1, max: 5, grid: { drawOnChartArea: false }, title: { display: true, text: "CSAT" } },
      },
    });
    draw(id, config, !rows.length);
  }

  // -- sections ----------------------------------------------------------------------------

  function renderKpis(d) {
    var fb = d.feedback.overall;
    var tiles = [
      ["Contacts (first seen)", d.funnel.population, "population"],
      ["At risk now", d.funnel.at_risk, "at_risk"],
      ["Dormant now", d.funnel.dormant, "dormant"],
      ["Touchpoints", d.touchpoints.total, "touchpoints"],
      ["NPS", fb.nps, "nps"],
      ["CSAT", fb.csat, "csat"],
      ["Handoffs", d.handoffs.count, "handoffs"],
    ];
    var box = clear(byId("kpis"));
    tiles.forEach(function (t) {
      box.appendChild(el("div", { className: "kpi", "data-kpi": t[2] }, el("span", { className: "value", text: fmt(t[1]) }), el("span", { className: "label", text: t[0] })));
    });
  }

  function renderFunnel(d) {
    var stages = d.funnel.stages;
    var labels = stages.map(function (s) { return s.label; });
    draw("chart-funnel", bars(labels, [
      { label: "Reached", data: stages.map(function (s) { return s.reached; }) },
      { label: "Stalled here (drop-off)", data: stages.map(function (s) { return s.stalled; }) },
    ]), d.funnel.empty);
    table("funnel-table", ["Stage", "Reached", "Conversion to next", "Stalled here", "Drop-off", "Entered in period", "Now here", "At risk", "Dormant"],
      stages.map(function (s) {
        return [s.label, s.reached, pct(s.conversion_to_next), s.stalled, pct(s.drop_off_rate), s.entered_in_period, s.current, s.at_risk, s.dormant];
      }));
  }

  function renderTime(d) {
    var stages = d.time_in_stage.stages;
    draw("chart-time", bars(stages.map(function (s) { return s.label; }), [
      { label: "Median (h)", data: stages.map(function (s) { return s.median_h; }) },
      { label: "p90 (h)", data: stages.map(function (s) { return s.p90_h; }) },
    ], { yTitle: "hours" }), d.time_in_stage.empty);
    table("time-table", ["Stage", "Completed stays", "Median (h)", "p90 (h)", "Still in stage"],
      stages.map(function (s) { return [s.label, s.count, fmt(s.median_h), fmt(s.p90_h), s.ongoing]; }));
  }

  function renderCohorts(d) {
    var co = d.cohorts;
    byId("cohort-hint").textContent = "Share of each weekly cohort still active k weeks after first contact (in brackets: share that reached " + co.retention_stage + ").";
    var width = co.cohorts.reduce(function (m, c) { return Math.max(m, c.weeks.length); }, 0);
    var headers = ["Cohort (week of)", "Size"];
    for (var k = 0; k < width; k++) headers.push("W" + k);
    table("cohort-table", headers, co.cohorts.map(function (c) {
      var row = [c.week, c.size];
      c.weeks.forEach(function (w) {
        var cell = el("span", { className: "heat", "data-rate": String(w.active_rate) }, pct(w.active_rate), el("small", { text: " (" + pct(w.retained_rate) + ")" }));
        // Heatmap shade through the CSSOM (allowed by the page's CSP, unlike inline style attributes).
        cell.style.backgroundColor = "rgba(59,125,216," + (0.1 + 0.8 * (w.active_rate || 0)).toFixed(2) + ")";
        if ((w.active_rate || 0) > 0.55) cell.classList.add("dark");
        row.push(cell);
      });
      while (row.length < headers.length) row.push("");
      return row;
    }), "No contact first came in this period.");
  }

  function renderFeedback(d) {
    var fb = d.feedback;
    feedbackChart("chart-feedback-stage", fb.by_stage, "stage", "By stage");
    feedbackChart("chart-feedback-channel", fb.by_channel, "channel", "By channel");
    feedbackChart("chart-feedback-week", fb.by_week, "week", "By week");
    var rows = [];
    [["stage", "Stage"], ["channel", "Channel"], ["week", "Week"]].forEach(function (dim) {
      fb["by_" + dim[0]].forEach(function (r) {
        rows.push([dim[1], r[dim[0]], fmt(r.nps), r.nps_answers, fmt(r.csat), r.csat_answers]);
      });
    });
    table("feedback-table", ["By", "Value", "NPS", "NPS answers", "CSAT", "CSAT answers"], rows, "No NPS or CSAT answers in this period.");
  }

  function renderTouchpoints(d) {
    var stages = d.touchpoints.stages;
    var names = [];
    stages.forEach(function (s) { s.channels.forEach(function (c) { if (names.indexOf(c.channel) < 0) names.push(c.channel); }); });
    names.sort();
    draw("chart-channels", bars(stages.map(function (s) { return s.label; }), names.map(function (name) {
      return { label: name, data: stages.map(function (s) { var c = s.channels.find(function (x) { return x.channel === name; }); return c ? c.count : 0; }) };
    }), { stacked: true }), d.touchpoints.empty);
    table("questions-table", ["Stage", "Touchpoints", "Channels", "Top questions"], stages.map(function (s) {
      var channels = s.channels.map(function (c) { return c.channel + " " + c.count; }).join(", ") || "–";
      var list = el("ol", { className: "questions" });
      s.top_questions.forEach(function (q) { list.appendChild(el("li", {}, el("span", { className: "intent", text: q.intent }), " " + q.count + " (" + pct(q.share) + ")")); });
      return [s.label, s.touchpoints, channels, s.top_questions.length ? list : "–"];
    }));
  }

  function renderOffers(d) {
    var offers = d.offers.offers;
    draw("chart-offers", bars(offers.map(function (o) { return o.offer_id; }), [
      { label: "Impressions", data: offers.map(function (o) { return o.impressions; }) },
      { label: "Contacts first shown", data: offers.map(function (o) { return o.reach; }) },
      { label: "Redemptions", data: offers.map(function (o) { return o.redemptions; }) },
    ]), d.offers.empty);
    var rows = [];
    offers.forEach(function (o) {
      rows.push([el("strong", { text: o.offer_id }), "all stages", o.impressions, o.reach, o.redemptions, pct(o.redemption_rate)]);
      o.stages.forEach(function (s) { rows.push(["", s.stage, s.impressions, s.reach, s.redemptions, pct(s.redemption_rate)]); });
    });
    table("offers-table", ["Offer", "Stage", "Impressions", "Contacts first shown", "Redemptions", "Of them redeemed"], rows, "No offer was shown in this period.");
  }

  function renderReferrals(d) {
    var r = d.referrals;
    facts("referrals", [
      ["Codes issued", r.codes_issued, "codes_issued"],
      ["Referred contacts", r.referred_contacts, "referred_contacts"],
      ["Referred who reached " + r.purchase_stage, r.referred_reached_purchase, "referred_reached_purchase"],
      ["Referred purchase rate", pct(r.referred_purchase_rate), "referred_purchase_rate"],
    ]);
  }

  function renderHandoffs(d) {
    var h = d.handoffs;
    facts("handoffs", [
      ["Handoffs", h.count, "count"],
      ["Wait (median / p90)", minutes(h.wait.median_s) + " / " + minutes(h.wait.p90_s), "wait"],
      ["Handling (median / p90)", minutes(h.handling.median_s) + " / " + minutes(h.handling.p90_s), "handling"],
      ["CSAT after handoff", h.csat_after === null ? "–" : h.csat_after + " (" + h.csat_after_answers + " answers)", "csat_after"],
    ]);
    draw("chart-handoffs", {
      type: "doughnut",
      data: {
        labels: h.by_trigger.map(function (t) { return t.trigger; }),
        datasets: [{ label: "Handoffs", data: h.by_trigger.map(function (t) { return t.count; }), backgroundColor: COLORS }],
      },
      options: { plugins: { title: { display: true, text: "Share by trigger" } } },
    }, h.empty);
    table("handoff-table", ["Trigger", "Handoffs", "Share"], h.by_trigger.map(function (t) { return [t.trigger, t.count, pct(t.share)]; }), "No handoffs in this period.");
  }

  function renderAttribution(d) {
    var at = d.attribution;
    byId("attribution-caveat").textContent = at.caveat + " Window: " + at.window_days + " days.";
    var rows = [];
    at.stages.forEach(function (s) {
      s.answers.slice(0, 5).forEach(function (a) { rows.push([s.stage + " → " + s.next_stage, "answer: " + a.intent, a]); });
      s.offers.slice(0, 3).forEach(function (a) { rows.push([s.stage + " → " + s.next_stage, "offer: " + a.offer_id, a]); });
    });
    table("attribution-table", ["Stage → next", "Bot answer / offer", "Got it", "Reached next (got it)", "Did not", "Reached next (did not)", "Difference (correlation)"],
      rows.map(function (r) {
        var a = r[2];
        var diff = a.lift === null ? "–" : (a.lift > 0 ? "+" : "") + Math.round(a.lift * 100) + " pts";
        return [r[0], r[1], a.exposed, pct(a.exposed_rate), a.unexposed, pct(a.unexposed_rate), diff];
      }), "No bot answers or offers in this period.");
  }

  function renderMap(d) {
    var jm = d.journey_map;
    byId("map-segment").textContent = plain("– " + jm.segment);
    var columns = jm.columns;
    var moments = jm.moments_of_truth.map(function (m) { return m.stage; });
    draw("chart-emotion", {
      type: "line",
      data: {
        labels: columns.map(function (c) { return c.label; }),
        datasets: [{ label: "Emotion (mean valence)", data: columns.map(function (c) { return c.emotion.valence; }), borderColor: COLORS[1], backgroundColor: COLORS[1], spanGaps: true }],
      },
      options: {
        // offset: points sit in the middle of each stage, above the map's columns.
        scales: { x: { offset: true }, y: { min: -2, max: 2, ticks: { stepSize: 1, callback: function (v) { return { "-2": "angry", "-1": "sad", "0": "neutral", "1": "happy", "2": "excited" }[String(v)] || v; } } } },
        plugins: { title: { display: true, text: "Emotion curve" } },
      },
    }, columns.every(function (c) { return c.emotion.valence === null; }));

    var grid = clear(byId("map-columns"));
    columns.forEach(function (c) {
      var moment = moments.indexOf(c.stage) >= 0;
      var col = el("div", { className: "map-col" + (moment ? " moment" : ""), "data-stage": c.stage });
      col.appendChild(el("h3", { text: c.label }));
      if (moment) col.appendChild(el("span", { className: "badge moment-badge", text: "moment of truth" }));
      col.appendChild(el("p", { className: "meta", text: c.reached + " reached · " + c.stalled + " stalled (" + pct(c.drop_off_rate) + ")" }));
      col.appendChild(el("h4", { text: "Touchpoints" }));
      col.appendChild(el("p", { text: c.touchpoints + (c.channels.length ? ": " + c.channels.map(function (x) { return x.channel + " " + pct(x.share); }).join(", ") : "") }));
      col.appendChild(el("h4", { text: "Top questions" }));
      var qs = el("ul");
      c.top_questions.forEach(function (q) { qs.appendChild(el("li", { text: q.intent + " (" + q.count + ")" })); });
      col.appendChild(c.top_questions.length ? qs : el("p", { text: "–" }));
      col.appendChild(el("h4", { text: "Emotion" }));
      col.appendChild(el("p", { text: c.emotion.valence === null ? "–" : (c.emotion.valence > 0 ? "+" : "") + c.emotion.valence.toFixed(2) + " (" + c.emotion.labelled + " labelled)" }));
      col.appendChild(el("h4", { text: "Pain points" }));
      var pains = el("ul", { className: "pains" });
      var p = c.pain_points;
      p.top_complaints.forEach(function (x) { pains.appendChild(el("li", { text: "“" + x.text + "” (" + x.count + ")" })); });
      pains.appendChild(el("li", { text: p.complaints + " complaints, " + p.fallbacks + " fallbacks (" + pct(p.fallback_rate) + ")" }));
      p.handoff_reasons.forEach(function (x) { pains.appendChild(el("li", { text: "handoff: " + x.reason + " (" + x.count + ")" })); });
      col.appendChild(pains);
      grid.appendChild(col);
    });
    var ml = clear(byId("moments"));
    jm.moments_of_truth.forEach(function (m) { ml.appendChild(el("li", { text: m.label + ": " + m.stalled + " stalled (" + pct(m.drop_off_rate) + " drop-off)" })); });
    if (!jm.moments_of_truth.length) ml.appendChild(el("li", { text: "No stage with drop-off in this period." }));
    var ol = clear(byId("opportunities"));
    jm.opportunities.forEach(function (o) { ol.appendChild(el("li", { text: o })); });
    if (!jm.opportunities.length) ol.appendChild(el("li", { text: "No opportunity stands out in this period." }));
  }

  // -- filters and loading -----------------------------------------------------------------

  function setOptions(select, values, allLabel, current) {
    var list = values.slice();
    if (current && list.indexOf(current) < 0) list.push(current); // keep an unknown value visible
    clear(select);
    if (allLabel !== null) select.appendChild(el("option", { value: "", text: allLabel }));
    list.forEach(function (v) { select.appendChild(el("option", { value: v, text: v })); });
    select.value = current || "";
  }

  function dayBefore(iso) {
    // `to` in the filters is an exclusive instant; the date input shows the last day included.
    return new Date(new Date(iso).getTime() - 1).toISOString().slice(0, 10);
  }

  function query() {
    var params = new URLSearchParams();
    FIELDS.forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    });
    return params.toString();
  }

  function showMessage(text) {
    message.textContent = plain(text);
    message.hidden = !text;
  }

  function render(body) {
    var d = body.dashboard;
    var f = d.filters;
    form.elements.from.value = f.from.slice(0, 10);
    form.elements.to.value = dayBefore(f.to);
    setOptions(form.elements.channel, body.options.channels, "All channels", f.channel);
    setOptions(form.elements.model, body.options.models, null, f.model);
    setOptions(form.elements.persona, body.options.personas, "All personas", f.persona);
    byId("scope").textContent = d.model.label + ": " + f.from.slice(0, 10) + " to " + dayBefore(f.to) + " (UTC)";
    var notes = clear(byId("notices"));
    body.notices.forEach(function (n) { notes.appendChild(el("p", { className: "flash notice", text: n })); });
    results.hidden = false;
    [renderKpis, renderFunnel, renderTime, renderCohorts, renderFeedback, renderTouchpoints, renderOffers, renderReferrals, renderHandoffs, renderAttribution, renderMap]
      .forEach(function (section) { section(d); });
    var q = query();
    byId("export-html").href = root.getAttribute("data-map-html") + (q ? "?" + q : "");
    byId("export-png").href = root.getAttribute("data-map-png") + (q ? "?" + q : "");
  }

  function load(q) {
    var ticket = ++latest;
    root.setAttribute("data-state", "loading");
    return fetch(root.getAttribute("data-url") + (q ? "?" + q : ""), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (r) {
        if (ticket !== latest) return; // a newer filter change is on its way
        if (r.status === 200) {
          showMessage("");
          render(r.body);
          root.setAttribute("data-state", "ready");
        } else {
          var error = (r.body && r.body.error) || {};
          var text = r.status === 401 ? "Your session has ended; log in again."
            : r.status === 422 ? "Check the filters – " + (error.message || "a filter value is not valid.")
            : "The dashboard could not be loaded (" + (error.message || "HTTP " + r.status) + "). Try again shortly.";
          showMessage(text);
          results.hidden = true;
          root.setAttribute("data-state", "error");
        }
        root.setAttribute("data-query", q);
      })
      .catch(function () {
        if (ticket !== latest) return;
        showMessage("The console did not answer; check your connection and try again.");
        root.setAttribute("data-state", "error");
        root.setAttribute("data-query", q);
      });
  }

  function apply() {
    var q = query();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
    load(q);
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  ["channel", "model", "persona", "from", "to"].forEach(function (name) {
    form.elements[name].addEventListener("change", function () {
      if (name === "model") form.elements.persona.value = ""; // personas differ per model
      apply();
    });
  });

  var initial = new URLSearchParams(location.search);
  FIELDS.forEach(function (name) {
    var value = initial.get(name);
    if (!value) return;
    var field = form.elements[name];
    if (field.tagName === "SELECT" && !Array.prototype.some.call(field.options, function (o) { return o.value === value; })) field.appendChild(el("option", { value: value, text: value }));
    field.value = value;
  });
  load(query());
})();
