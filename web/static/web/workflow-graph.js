/* The graph of a workflow's steps and transitions as inline SVG: TTS.drawWorkflowGraph(graphHost, legendHost, wf,
   problemSteps?) draws wf ({steps: [{name, order, role_name, sla_weight}], transitions: [{from_step, action, to_step}]})
   into graphHost and its action legend into legendHost; steps named in problemSteps ({name: true}) are marked.
   Used by the workflow list (read-only) and the designer (redrawn at each edit). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el, svg = T.svg;
  var NODE_W = 176, NODE_H = 66, GAP = 84, PAD = 28, TERM_W = 124, TERM_H = 40;
  var ACTION_COLORS = { approve: "#16a34a", reject: "#dc2626", escalate: "#d97706", transfer: "#2563eb", hold: "#64748b", resume: "#0891b2" };

  function truncate(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

  /* Layout: Start → steps in order on one row → Completed; Rejected below. Edges between neighbours are straight;
     any other edge is an arc (above for forward skips, below for loops back); several actions between the same pair
     share one edge with a combined label. */
  function drawGraph(graphHost, legendHost, wf, problemSteps) {
    var host = T.clear(graphHost);
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
    var TOP = 44 + (arcs ? 26 + arcs * 24 : 0);
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
      var g = svg("g", { class: "graph-step" + (problemSteps && problemSteps[s.name] ? " graph-step-problem" : ""), "data-step": s.name });
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

    var legend = T.clear(legendHost);
    var used = {};
    (wf.transitions || []).forEach(function (t) { used[t.action] = true; });
    Object.keys(used).forEach(function (action) {
      legend.appendChild(el("span", { class: "legend-item legend-" + action }, el("span", { class: "legend-swatch", "aria-hidden": "true" }), T.fmt.title(action)));
    });
    graphHost.setAttribute("aria-label", "Workflow graph: " + steps.map(function (s) { return s.name + " (" + s.role_name + ")"; }).join(" → "));
  }

  T.drawWorkflowGraph = drawGraph;
})();
