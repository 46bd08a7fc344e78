/* Admin · Integration health: /health/ready (database, broker, channel layer) polled every 10 s, the auth service
   probed from the browser, and AMS/BMS shown as not yet monitored (their health API comes with a later release).
   "Last success" and the latency history are what this page observed since it was opened (kept for the tab). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el, svg = T.svg;
  var POLL_MS = 10000, HISTORY = 30, STORE = "tts.health";
  var COMPONENTS = [
    { key: "database", name: "Database", detail: "PostgreSQL · task, user and audit storage" },
    { key: "broker", name: "Message broker", detail: "RabbitMQ · ticket, sync and notification queues" },
    { key: "channel_layer", name: "Channel layer", detail: "Redis · live comments and notifications" },
    { key: "auth", group: "integrations", name: "Auth service", detail: "Token refresh and user lookups (probed from this browser)" },
    { key: "ams", group: "integrations", name: "AMS", detail: "Asset management system", pending: true },
    { key: "bms", group: "integrations", name: "BMS", detail: "Budget management system", pending: true },
  ];
  var memory = load();

  function load() {
    try { return JSON.parse(sessionStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }
  function save() { sessionStorage.setItem(STORE, JSON.stringify(memory)); }

  function record(key, result) {
    var m = memory[key] = memory[key] || { history: [], errors: 0, checks: 0 };
    m.checks += 1;
    m.last = result;
    m.lastChecked = Date.now();
    if (result.status === "ok") m.lastSuccess = Date.now();
    else { m.errors += 1; m.lastError = result.error || "Unavailable"; m.lastErrorAt = Date.now(); }
    m.history.push({ ms: result.duration_ms, ok: result.status === "ok" });
    if (m.history.length > HISTORY) m.history.shift();
  }

  function probeReady() {
    var started = performance.now();
    return fetch("/health/ready", { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        if (!body || !body.checks) throw new Error("HTTP " + res.status);
        Object.keys(body.checks).forEach(function (key) { record(key, body.checks[key]); });
      });
    }).catch(function (e) {
      var ms = Math.round(performance.now() - started);
      ["database", "broker", "channel_layer"].forEach(function (key) {
        record(key, { status: "error", error: "Readiness probe unreachable: " + e.message, duration_ms: ms });
      });
    });
  }

  function probeAuth() {
    var started = performance.now();
    return T.api("/api/v1/users/me/").then(function () {
      record("auth", { status: "ok", duration_ms: Math.round(performance.now() - started) });
    }).catch(function (e) {
      record("auth", { status: "error", error: e.message, duration_ms: Math.round(performance.now() - started) });
    });
  }

  function sparkline(history) {
    var w = 160, h = 30;
    var max = Math.max.apply(null, history.map(function (p) { return p.ms || 0; }).concat([5]));
    var root = svg("svg", { viewBox: "0 0 " + w + " " + h, width: w, height: h, class: "sparkline", "aria-hidden": "true" });
    if (history.length < 2) return root;
    var step = (w - 4) / (history.length - 1);
    var offset = 2;
    var points = history.map(function (p, i) { return (offset + i * step).toFixed(1) + "," + (h - 2 - ((p.ms || 0) / max) * (h - 6)).toFixed(1); });
    root.appendChild(svg("polyline", { points: points.join(" "), fill: "none", class: "sparkline-line" }));
    history.forEach(function (p, i) {
      if (!p.ok) root.appendChild(svg("circle", { cx: (offset + i * step).toFixed(1), cy: h - 4, r: 2.5, class: "sparkline-error" }));
    });
    return root;
  }

  function card(component) {
    var m = memory[component.key];
    var status = component.pending ? "unknown" : !m ? "checking" : m.last.status === "ok" ? (m.last.duration_ms > 1000 ? "degraded" : "ok") : "down";
    var label = { ok: "Operational", degraded: "Slow", down: "Down", checking: "Checking…", unknown: "Not monitored yet" }[status];
    var rows = component.pending ? [["Status source", "Integration health API (later release)"]] : m ? [
      ["Latency", m.last.duration_ms !== undefined ? m.last.duration_ms + " ms" : "—"],
      ["Last success", m.lastSuccess ? T.fmt.ago(new Date(m.lastSuccess).toISOString()) : "none observed"],
      ["Errors", m.errors + " of " + m.checks + " checks"],
    ] : [];
    var node = el("article", { class: "health-card health-" + status, dataset: { component: component.key, status: status } },
      el("div", { class: "health-card-head" },
        el("div", null, el("h2", { class: "health-name", text: component.name }), el("p", { class: "muted small", text: component.detail })),
        el("span", { class: "health-pill" }, el("span", { class: "health-dot", "aria-hidden": "true" }), label)),
      el("dl", { class: "facts facts-compact" }, rows.map(function (r) { return [el("dt", { text: r[0] }), el("dd", { text: r[1] })]; })),
      m && !component.pending && m.history.length > 1 ? el("div", { class: "spark-row" },
        el("span", { class: "muted small", text: "Latency, last " + m.history.length + " checks" }), sparkline(m.history)) : null,
      m && m.last.status !== "ok" ? el("p", { class: "health-error", text: m.last.error || "Unavailable" }) :
        m && m.lastError ? el("p", { class: "muted small", text: "Last error " + T.fmt.ago(new Date(m.lastErrorAt).toISOString()) + ": " + m.lastError }) : null);
    return node;
  }

  function render() {
    var platform = T.clear(T.$("health-platform")), integrations = T.clear(T.$("health-integrations"));
    COMPONENTS.forEach(function (c) { (c.group === "integrations" ? integrations : platform).appendChild(card(c)); });
    var monitored = COMPONENTS.filter(function (c) { return !c.pending && memory[c.key]; });
    var down = monitored.filter(function (c) { return memory[c.key].last.status !== "ok"; });
    var overall = T.$("health-overall");
    overall.dataset.status = down.length ? "down" : monitored.length ? "ok" : "unknown";
    T.$("health-overall-text").textContent = down.length ? down.map(function (c) { return c.name; }).join(", ") + (down.length === 1 ? " is" : " are") + " failing"
      : monitored.length ? "All monitored systems operational" : "Checking…";
    T.$("health-summary").textContent = monitored.length + " systems monitored · refreshed every " + POLL_MS / 1000 + " s";
    T.$("health-updated").textContent = "Updated " + new Date().toLocaleTimeString();
  }

  function check() {
    return Promise.all([probeReady(), probeAuth()]).then(function () { save(); render(); });
  }

  T.onReady(function () {
    render();
    check();
    T.$("health-refresh").addEventListener("click", check);
    setInterval(function () { if (!document.hidden) check(); }, POLL_MS);
  });
})();
