/* Admin · Workflows: the list, and for the chosen workflow (GET /workflows/{id}/) its graph of steps and transitions
   drawn as inline SVG, its steps and its routing/SLA settings. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el, svg = T.svg;
  var NODE_W = 176, NODE_H = 66, GAP = 84, PAD = 28, TERM_W = 124, TERM_H = 40;
  var TOP = 96; // y of the step row: room above it for arcs that skip steps (set per graph)
  var ACTION_COLORS = { approve: "#16a34a", reject: "#dc2626", escalate: "#d97706", transfer: "#2563eb", hold: "#64748b", resume: "#0891b2" };
  var state = { workflows: [], selectedId: null };
  var EXTERNAL_CHECKS = { ams_reserve: "AMS reservation", bms_budget_check: "BMS budget check" };

  function loadList() {
    var status = T.$("wf-status-filter").value;
    return T.apiAll("/workflows/", { status: status || null }, 5).then(function (workflows) {
      state.workflows = workflows.sort(function (a, b) { return a.name.localeCompare(b.name) || b.version - a.version; });
      var list = T.clear(T.$("wf-list"));
      state.workflows.forEach(function (wf) {
        var item = el("li", { class: "wf-item" + (wf.id === state.selectedId ? " is-selected" : ""), dataset: { workflowId: String(wf.id) }, tabindex: "0" },
          el("div", { class: "wf-item-head" }, el("strong", { text: wf.name }), T.badge("wf", wf.status)),
          el("div", { class: "muted small", text: wf.category + " › " + wf.sub_category + (wf.department ? " · " + wf.department : "") }),
          el("div", { class: "muted small", text: "v" + wf.version + " · " + wf.steps.length + (wf.steps.length === 1 ? " step" : " steps") }));
        item.addEventListener("click", function () { select(wf.id); });
        item.addEventListener("keydown", function (e) { if (e.key === "Enter") select(wf.id); });
        list.appendChild(item);
      });
      T.$("wf-empty").hidden = state.workflows.length > 0;
      T.$("wf-summary").textContent = state.workflows.length + (state.workflows.length === 1 ? " workflow" : " workflows") +
        (status ? " " + status : "");
      var wanted = Number(location.hash.slice(1)) || state.selectedId;
      if (wanted && state.workflows.some(function (w) { return w.id === wanted; })) select(wanted);
      else if (state.workflows.length) select(state.workflows[0].id);
      else T.$("wf-detail").hidden = true;
    }).catch(function (e) { T.report(e, "Could not load workflows"); });
  }

  function select(id) {
    state.selectedId = id;
    history.replaceState(null, "", "#" + id);
    document.querySelectorAll(".wf-item").forEach(function (n) { n.classList.toggle("is-selected", n.dataset.workflowId === String(id)); });
    // Only the latest selection is drawn: an earlier answer arriving late (the page's own first pick) must not win.
    T.api("/workflows/" + id + "/").then(function (wf) { if (state.selectedId === id) renderDetail(wf); })
      .catch(function (e) { T.report(e, "Could not load the workflow"); });
  }

  function renderDetail(wf) {
    T.$("wf-detail").hidden = false;
    T.$("wf-title").textContent = wf.name;
    T.$("wf-description").textContent = wf.description || "";
    var badges = T.clear(T.$("wf-badges"));
    badges.appendChild(T.badge("wf", wf.status));
    badges.appendChild(el("span", { class: "badge badge-neutral", text: "v" + wf.version }));
    drawGraph(wf);
    var steps = wf.steps.slice().sort(function (a, b) { return a.order - b.order; });
    var tbody = T.clear(T.$("wf-steps"));
    steps.forEach(function (s, i) {
      tbody.appendChild(el("tr", null, el("td", { text: String(i + 1) }), el("td", { text: s.name }), el("td", { text: s.role_name }),
        el("td", { text: Number(s.sla_weight) + "%" }), el("td", { text: EXTERNAL_CHECKS[s.external_action] || "—" })));
    });
    var facts = T.clear(T.$("wf-facts"));
    var sla = wf.sla_hours || {};
    [
      ["Matches", wf.category + " › " + wf.sub_category + (wf.department ? " · " + wf.department : " · any department")],
      ["Coordinator", wf.coordinator_role_name || "—"],
      ["SLA urgent", hours(sla.urgent)], ["SLA high", hours(sla.high)], ["SLA medium", hours(sla.medium)], ["SLA low", hours(sla.low)],
      ["SLA clock", wf.calendar_name ? "Business hours: " + wf.calendar_name : "Round the clock"],
      ["SLA warnings", (wf.sla_warning_thresholds || []).length ? wf.sla_warning_thresholds.map(function (p) { return p + "%"; }).join(", ") : "None"],
      ["Deployed", wf.deployed_at ? T.fmt.date(wf.deployed_at) : "—"],
    ].forEach(function (p) { facts.appendChild(el("dt", { text: p[0] })); facts.appendChild(el("dd", { text: p[1] })); });
  }

  function hours(value) {
    if (value === undefined || value === null) return "—";
    return value < 1 ? Math.round(value * 60) + " min" : (Math.round(value * 10) / 10) + " h";
  }

  function truncate(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

  /* Layout: Start → steps in order on one row → Completed; Rejected below. Edges between neighbours are straight;
     any other edge is an arc (above for forward skips, below for loops back); several actions between the same pair
     share one edge with a combined label. */
  function drawGraph(wf) {
    var host = T.clear(T.$("wf-graph"));
    var steps = wf.steps.slice().sort(function (a, b) { return a.order - b.order; });
    var index = {};
    steps.forEach(function (s, i) { index[s.name] = i; });
    var startX = PAD + 18;
    var x0 = startX + 18 + 56;
    function stepX(i) { return x0 + i * (NODE_W + GAP); }
    var completedX = stepX(steps.length);
    var width = completedX + TERM_W + PAD;

    var edges = {};
    (wf.transitions || []).forEach(function (t) {
      var to = t.to_step === null || t.to_step === undefined ? (t.action === "approve" ? "__completed" : "__rejected") : t.to_step;
      var key = t.from_step + "→" + to;
      (edges[key] = edges[key] || { from: t.from_step, to: to, actions: [] }).actions.push(t.action);
    });
    var edgeList = Object.keys(edges).map(function (k) { return edges[k]; });
    var arcs = edgeList.filter(function (e) {
      var to = e.to === "__completed" ? steps.length : index[e.to];
      return to !== undefined && index[e.from] !== undefined && to !== index[e.from] + 1;
    }).length;
    TOP = 44 + (arcs ? 26 + arcs * 24 : 0);
    var cy = TOP + NODE_H / 2;
    var rejectedY = TOP + NODE_H + 118;
    var height = rejectedY + TERM_H + PAD;
    var usesRejected = edgeList.some(function (e) { return e.to === "__rejected"; });
    var usesCompleted = edgeList.some(function (e) { return e.to === "__completed"; }) || !steps.length;

    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "graph", "aria-hidden": "true" });
    // Fits the card: scales down to 65% of natural size, then the frame scrolls sideways.
    root.style.width = "100%";
    root.style.maxWidth = width + "px";
    root.style.minWidth = Math.round(width * 0.65) + "px";
    var defs = svg("defs", {});
    Object.keys(ACTION_COLORS).concat(["default"]).forEach(function (action) {
      defs.appendChild(svg("marker", { id: "arrow-" + action, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
        svg("path", { d: "M0,0 L10,5 L0,10 z", fill: ACTION_COLORS[action] || "#94a3b8" })));
    });
    root.appendChild(defs);
    var edgeLayer = svg("g", { class: "graph-edges" }), labelLayer = svg("g", { class: "graph-labels" }), nodeLayer = svg("g", { class: "graph-nodes" });
    root.appendChild(edgeLayer);
    root.appendChild(nodeLayer);
    root.appendChild(labelLayer);

    function label(x, y, text, color) {
      var w = text.length * 6.6 + 14;
      var g = svg("g", { class: "graph-label" });
      g.appendChild(svg("rect", { x: x - w / 2, y: y - 10, width: w, height: 20, rx: 10, fill: "#fff", stroke: color, "stroke-width": 1 }));
      g.appendChild(svg("text", { x: x, y: y + 4, "text-anchor": "middle", fill: color, class: "graph-label-text", text: text }));
      labelLayer.appendChild(g);
    }
    function path(d, action, dashed) {
      var color = ACTION_COLORS[action] || "#94a3b8";
      edgeLayer.appendChild(svg("path", { d: d, fill: "none", stroke: color, "stroke-width": 2, "marker-end": "url(#arrow-" + (ACTION_COLORS[action] ? action : "default") + ")",
        "stroke-dasharray": dashed ? "5 4" : "none", class: "graph-edge graph-edge-" + action }));
      return color;
    }

    // Start node and its edge to the first step.
    nodeLayer.appendChild(svg("circle", { cx: startX, cy: cy, r: 16, class: "graph-start" }));
    nodeLayer.appendChild(svg("text", { x: startX, y: cy + 34, "text-anchor": "middle", class: "graph-caption", text: "Ticket" }));
    if (steps.length) path("M" + (startX + 18) + "," + cy + " L" + (x0 - 4) + "," + cy, "default");

    steps.forEach(function (s, i) {
      var x = stepX(i);
      var g = svg("g", { class: "graph-step", "data-step": s.name });
      g.appendChild(svg("title", { text: s.name + " — " + s.role_name }));
      g.appendChild(svg("rect", { x: x, y: TOP, width: NODE_W, height: NODE_H, rx: 12, class: "graph-step-box" }));
      g.appendChild(svg("rect", { x: x, y: TOP, width: 6, height: NODE_H, rx: 3, class: "graph-step-accent" }));
      g.appendChild(svg("text", { x: x + 18, y: TOP + 25, class: "graph-step-name", text: truncate(s.name, 20) }));
      g.appendChild(svg("text", { x: x + 18, y: TOP + 44, class: "graph-step-role", text: truncate(s.role_name || "", 24) }));
      g.appendChild(svg("text", { x: x + 18, y: TOP + 58, class: "graph-step-meta", text: "Step " + (i + 1) + " · " + Number(s.sla_weight) + "% of SLA" }));
      nodeLayer.appendChild(g);
    });

    function terminal(x, y, text, kind) {
      nodeLayer.appendChild(svg("rect", { x: x, y: y, width: TERM_W, height: TERM_H, rx: TERM_H / 2, class: "graph-end graph-end-" + kind }));
      nodeLayer.appendChild(svg("text", { x: x + TERM_W / 2, y: y + TERM_H / 2 + 5, "text-anchor": "middle", class: "graph-end-text graph-end-text-" + kind, text: text }));
    }
    if (usesCompleted) terminal(completedX, cy - TERM_H / 2, "✓ Completed", "completed");
    var rejectedX = steps.length ? (stepX(0) + stepX(steps.length - 1) + NODE_W) / 2 - TERM_W / 2 : completedX;
    if (usesRejected) terminal(rejectedX, rejectedY, "✕ Rejected", "rejected");

    var arcLevel = 0;
    function span(e) {
      var to = e.to === "__completed" ? steps.length : e.to === "__rejected" ? -1 : index[e.to];
      return to === undefined || to < 0 ? 0 : Math.abs(to - index[e.from]);
    }
    edgeList.sort(function (a, b) { return span(a) - span(b); }); // short arcs inside long ones: no crossings
    edgeList.forEach(function (e) {
      var from = index[e.from];
      if (from === undefined) return;
      var action = e.actions[0];
      var text = e.actions.join(" / ");
      var fx = stepX(from), color;
      if (e.to === "__rejected") {
        var sx = fx + NODE_W / 2, sy = TOP + NODE_H, tx = rejectedX + TERM_W / 2 + (from - (steps.length - 1) / 2) * 22, ty = rejectedY;
        color = path("M" + sx + "," + sy + " C" + sx + "," + (sy + 60) + " " + tx + "," + (ty - 60) + " " + tx + "," + (ty - 2), action);
        label((sx * 0.55 + tx * 0.45), sy + (ty - sy) * 0.45, text, color);
        return;
      }
      var to = e.to === "__completed" ? steps.length : index[e.to];
      if (to === undefined) return;
      var tx2 = e.to === "__completed" ? completedX : stepX(to);
      if (to === from + 1) {
        color = path("M" + (fx + NODE_W) + "," + cy + " L" + (tx2 - 4) + "," + cy, action);
        label(fx + NODE_W + GAP / 2, cy - 16, text, color);
      } else {
        // Skips forward (solid) and loops back (dashed) arc above the row, each at its own height.
        arcLevel += 1;
        var lift = 12 + arcLevel * 24;
        var forward = to > from;
        var ax = fx + NODE_W * (forward ? 0.72 : 0.3);
        var bx = e.to === "__completed" ? tx2 + TERM_W / 2 : tx2 + NODE_W * (forward ? 0.28 : 0.7);
        var endY = e.to === "__completed" ? cy - TERM_H / 2 : TOP;
        var peak = TOP - lift * 1.33;
        color = path("M" + ax + "," + TOP + " C" + ax + "," + peak + " " + bx + "," + peak + " " + bx + "," + (endY - 2), action, !forward);
        label((ax + bx) / 2, TOP - lift, text, color);
      }
    });
    host.appendChild(root);

    var legend = T.clear(T.$("wf-legend"));
    var used = {};
    (wf.transitions || []).forEach(function (t) { used[t.action] = true; });
    Object.keys(used).forEach(function (action) {
      legend.appendChild(el("span", { class: "legend-item legend-" + action }, el("span", { class: "legend-swatch", "aria-hidden": "true" }), T.fmt.title(action)));
    });
    T.$("wf-graph").setAttribute("aria-label", "Workflow graph: " + steps.map(function (s) { return s.name + " (" + s.role_name + ")"; }).join(" → "));
  }

  T.onReady(function () {
    T.$("wf-status-filter").addEventListener("change", loadList);
    loadList();
  });
})();
