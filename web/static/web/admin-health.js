/* Admin · Integration health: /health/ready (database, broker, channel layer) polled every 10 s, the auth service
   probed from the browser, and AMS/BMS from /integrations/health/ (what the workflow engine's own calls found:
   status, circuit, latency, errors, last success, tasks waiting on them).
   For the probed components, "Last success" and the latency history are what this page observed since it was opened
   (kept for the tab); for AMS/BMS they are the deployment's, kept by the server. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el, svg = T.svg;
  var POLL_MS = 10000, HISTORY = 30, STORE = "tts.health";
  var COMPONENTS = [
    // The server kind in use comes from /health/ready ("backend"): the embedded default's differ from the real stack's.
    { key: "database", name: "Database", detail: "task, user and audit storage" },
    { key: "broker", name: "Message broker", detail: "ticket, sync and notification queues" },
    { key: "channel_layer", name: "Channel layer", detail: "live comments and notifications" },
    { key: "auth", group: "integrations", name: "Auth service", detail: "Token refresh and user lookups (probed from this browser)" },
    { key: "ams", group: "integrations", name: "AMS", detail: "Asset management system · reservations", reported: true },
    { key: "bms", group: "integrations", name: "BMS", detail: "Budget management system · budget checks", reported: true },
  ];
  var memory = load();
  var reported = {};  // AMS/BMS rows of /integrations/health/, by name

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

  function probeIntegrations() {
    return T.api("/integrations/health/").then(function (rows) {
      reported = {};
      rows.forEach(function (row) { reported[row.name] = row; });
    }).catch(function (e) {
      reported = { error: e.message };
    });
  }

  /* An AMS/BMS card from the server's record of the engine's calls. */
  function reportedCard(component) {
    var row = reported[component.key];
    var status = !row ? (reported.error ? "down" : "checking") : { ok: "ok", degraded: "degraded", down: "down", unknown: "unknown", not_configured: "unknown" }[row.status];
    var label = !row ? (reported.error ? "Health API unreachable" : "Checking…") : {
      ok: "Operational", degraded: "Failing", down: "Circuit open", unknown: "No calls yet", not_configured: "Not configured" }[row.status];
    var rows = row ? [
      ["Latency", row.last_latency_ms !== null ? Math.round(row.last_latency_ms) + " ms (last call)" : "—"],
      ["Last success", row.last_success_at ? T.fmt.ago(row.last_success_at) : "none yet"],
      ["Errors", row.errors + " of " + row.calls + " calls"],
      ["Circuit", T.fmt.title(row.circuit_state) + (row.circuit_open_until ? " until " + T.fmt.date(row.circuit_open_until) : "")],
      ["Waiting tasks", String(row.pending_tasks)],
    ] : [];
    var problem = !row ? reported.error : row.last_error && row.status !== "ok" && row.status !== "not_configured" ? row.last_error : null;
    return el("article", { class: "health-card health-" + status, dataset: { component: component.key, status: row ? row.status : status } },
      el("div", { class: "health-card-head" },
        el("div", null, el("h2", { class: "health-name", text: component.name }), el("p", { class: "muted small", text: component.detail })),
        el("span", { class: "health-pill" }, el("span", { class: "health-dot", "aria-hidden": "true" }), label)),
      el("dl", { class: "facts facts-compact" }, rows.map(function (r) { return [el("dt", { text: r[0] }), el("dd", { text: r[1] })]; })),
      row && row.status === "not_configured" ? el("p", { class: "muted small", text: "Set its URL in the server settings (README: AMS and BMS); until then tasks on its steps wait for an admin." }) :
      problem ? el("p", { class: "health-error", text: problem }) :
        row && row.last_error ? el("p", { class: "muted small", text: "Last error " + T.fmt.ago(row.last_error_at) + ": " + row.last_error }) : null);
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
    if (component.reported) return reportedCard(component);
    var m = memory[component.key];
    var status = !m ? "checking" : m.last.status === "ok" ? (m.last.duration_ms > 1000 ? "degraded" : "ok") : "down";
    var label = { ok: "Operational", degraded: "Slow", down: "Down", checking: "Checking…" }[status];
    var rows = m ? [
      ["Latency", m.last.duration_ms !== undefined ? m.last.duration_ms + " ms" : "—"],
      ["Last success", m.lastSuccess ? T.fmt.ago(new Date(m.lastSuccess).toISOString()) : "none observed"],
      ["Errors", m.errors + " of " + m.checks + " checks"],
    ] : [];
    var backend = m && m.last.backend ? m.last.backend + " · " : "";
    var node = el("article", { class: "health-card health-" + status, dataset: { component: component.key, status: status } },
      el("div", { class: "health-card-head" },
        el("div", null, el("h2", { class: "health-name", text: component.name }), el("p", { class: "muted small", text: backend + component.detail })),
        el("span", { class: "health-pill" }, el("span", { class: "health-dot", "aria-hidden": "true" }), label)),
      el("dl", { class: "facts facts-compact" }, rows.map(function (r) { return [el("dt", { text: r[0] }), el("dd", { text: r[1] })]; })),
      m && m.history.length > 1 ? el("div", { class: "spark-row" },
        el("span", { class: "muted small", text: "Latency, last " + m.history.length + " checks" }), sparkline(m.history)) : null,
      m && m.last.status !== "ok" ? el("p", { class: "health-error", text: m.last.error || "Unavailable" }) :
        m && m.lastError ? el("p", { class: "muted small", text: "Last error " + T.fmt.ago(new Date(m.lastErrorAt).toISOString()) + ": " + m.lastError }) : null);
    return node;
  }

  function render() {
    var platform = T.clear(T.$("health-platform")), integrations = T.clear(T.$("health-integrations"));
    COMPONENTS.forEach(function (c) { (c.group === "integrations" ? integrations : platform).appendChild(card(c)); });
    var monitored = COMPONENTS.filter(function (c) { return c.reported ? reported[c.key] && reported[c.key].configured : memory[c.key]; });
    var down = monitored.filter(function (c) {
      return c.reported ? ["degraded", "down"].indexOf(reported[c.key].status) >= 0 : memory[c.key].last.status !== "ok";
    });
    var overall = T.$("health-overall");
    overall.dataset.status = down.length ? "down" : monitored.length ? "ok" : "unknown";
    T.$("health-overall-text").textContent = down.length ? down.map(function (c) { return c.name; }).join(", ") + (down.length === 1 ? " is" : " are") + " failing"
      : monitored.length ? "All monitored systems operational" : "Checking…";
    T.$("health-summary").textContent = monitored.length + " systems monitored · refreshed every " + POLL_MS / 1000 + " s";
    T.$("health-updated").textContent = "Updated " + new Date().toLocaleTimeString();
  }

  function check() {
    return Promise.all([probeReady(), probeAuth(), probeIntegrations()]).then(function () { save(); render(); });
  }

  T.onReady(function () {
    render();
    check();
    T.$("health-refresh").addEventListener("click", check);
    setInterval(function () { if (!document.hidden) check(); }, POLL_MS);
  });
})();
