/* Reports: GET /reports/{throughput,sla,backlog,steps,agents}/ for the filters (kept in the address, so a view can be
   shared), drawn with Chart.js (vendor/chart.umd.js: trends as lines, breakdowns as bars) and as tables, each table
   downloadable as the API's CSV. Figures link to the task list (/app/queue/) filtered to the tasks behind them, as
   far as the task list's filters go (status, workflow, role, assignee, priority, and the days a figure counts: when
   the tasks were created, closed or breached, in the report's time zone, over the row's period or the range). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var FILTERS = ["from", "to", "tz", "interval", "workflow", "role", "agent", "priority"];
  var COLORS = { created: "#4f46e5", completed: "#16a34a", rejected: "#dc2626", escalated: "#d97706", breached: "#b91c1c",
                 transferred: "#0891b2", within: "#16a34a", weight: "#94a3b8", used: "#4f46e5", open: "#2563eb" };
  var AGES = [["age_lt_1d", "< 1 day", "#93c5fd"], ["age_1_3d", "1–3 days", "#60a5fa"], ["age_3_7d", "3–7 days", "#f59e0b"],
              ["age_7_30d", "7–30 days", "#ea580c"], ["age_gt_30d", "> 30 days", "#b91c1c"]];
  var state = { charts: {}, seq: 0 };

  function isoDay(date) {
    return date.getFullYear() + "-" + String(date.getMonth() + 1).padStart(2, "0") + "-" + String(date.getDate()).padStart(2, "0");
  }

  function filters() {
    var query = {};
    FILTERS.forEach(function (name) { query[name] = T.$("rp-" + name).value.trim() || null; });
    return query;
  }

  function remember(query) {
    var params = new URLSearchParams();
    Object.keys(query).forEach(function (key) { if (query[key]) params.set(key, query[key]); });
    history.replaceState(null, "", location.pathname + "?" + params.toString());
  }

  function addDays(isoDate, days) {
    var day = new Date(isoDate + "T00:00:00Z");
    day.setUTCDate(day.getUTCDate() + days);
    return day.toISOString().slice(0, 10);
  }

  /* The days a figure counts: its row's period (a day, or a week cut to the range) or, by default, the range. */
  function days(row) {
    var f = filters();
    if (!row) return { from: f.from, to: f.to };
    var last = addDays(row.key, f.interval === "week" ? 6 : 0);
    return { from: row.key < f.from ? f.from : row.key, to: last > f.to ? f.to : last };
  }

  /* The task list's filter on when the tasks were ``event`` (created, closed, breached) over ``range``. */
  function on(event, range, extra) {
    var filter = Object.assign({ tz: filters().tz }, extra || {});
    filter[event + "_from"] = range.from;
    filter[event + "_to"] = range.to;
    return filter;
  }

  /* The task list filtered to what is behind a figure: the page's filters plus ``extra``. */
  function drill(extra) {
    var f = filters(), params = new URLSearchParams({ scope: "all" });
    if (f.workflow) params.set("workflow", f.workflow);
    if (f.role) params.set("role", f.role);
    if (f.agent) params.set("assigned_user", f.agent);
    if (f.priority) params.set("priority", f.priority);
    Object.keys(extra).forEach(function (key) {
      params.delete(key);
      [].concat(extra[key]).forEach(function (v) { if (v !== null && v !== undefined && v !== "") params.append(key, v); });
    });
    return "/app/queue/?" + params.toString();
  }

  function figure(value, link) {
    if (value === null || value === undefined) return el("span", { class: "muted", text: "—" });
    if (!link || !value) return String(value);
    return el("a", { href: link, class: "rp-drill", title: "Open the tasks behind this figure", text: String(value) });
  }

  function hours(seconds) { return seconds === null || seconds === undefined ? null : T.fmt.duration(seconds); }
  function percent(value) { return value === null || value === undefined ? null : value + " %"; }

  /* A table: columns [{title, cell(row) -> node|text}]. */
  function table(id, columns, rows, empty) {
    var node = T.clear(T.$(id));
    node.appendChild(el("thead", null, el("tr", null, columns.map(function (c) {
      return el("th", { scope: "col", class: c.num ? "num" : null, text: c.title });
    }))));
    var body = el("tbody");
    rows.forEach(function (row) {
      body.appendChild(el("tr", null, columns.map(function (c) {
        return el("td", { "data-label": c.title, class: c.num ? "num" : null }, c.cell(row));
      })));
    });
    if (!rows.length) {
      body.appendChild(el("tr", null, el("td", { colspan: String(columns.length), class: "empty-cell" },
        el("span", { class: "muted small", text: empty || "Nothing in this range." }))));
    }
    node.appendChild(body);
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } }, config.options || {});
    state.charts[id] = new window.Chart(T.$(id), config);
  }

  function line(label, data, color) {
    return { label: label, data: data, borderColor: color, backgroundColor: color, tension: 0.25, pointRadius: 2, borderWidth: 2 };
  }

  function bar(label, data, color, stack) {
    return { label: label, data: data, backgroundColor: color, stack: stack, borderRadius: 3 };
  }

  function taskCell(row) {
    return el("div", null, el("a", { href: T.taskUrl(row.task_id), text: row.title }),
      el("div", { class: "muted small mono", text: row.ticket_id }));
  }

  // --- Sections --------------------------------------------------------------------------------------------------
  function renderThroughput(body) {
    var rows = body.rows;
    chart("rp-throughput-chart", { type: "line", data: { labels: rows.map(function (r) { return r.label; }), datasets: [
      line("Created", rows.map(function (r) { return r.created; }), COLORS.created),
      line("Completed", rows.map(function (r) { return r.completed; }), COLORS.completed),
      line("Rejected", rows.map(function (r) { return r.rejected; }), COLORS.rejected),
      line("Escalated", rows.map(function (r) { return r.escalated; }), COLORS.escalated),
      line("Transferred", rows.map(function (r) { return r.transferred; }), COLORS.transferred),
    ] }, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    table("rp-throughput-table", [
      { title: "Period", cell: function (r) { return r.label; } },
      { title: "Created", num: true, cell: function (r) { return figure(r.created, drill(on("created", days(r), { status: null }))); } },
      { title: "Assigned", num: true, cell: function (r) { return figure(r.assigned); } },
      { title: "Completed", num: true, cell: function (r) { return figure(r.completed, drill(on("closed", days(r), { status: "completed" }))); } },
      { title: "Rejected", num: true, cell: function (r) { return figure(r.rejected, drill(on("closed", days(r), { status: "rejected" }))); } },
      { title: "Cancelled", num: true, cell: function (r) { return figure(r.cancelled, drill(on("closed", days(r), { status: "cancelled" }))); } },
      { title: "Escalated", num: true, cell: function (r) { return figure(r.escalated); } },
      { title: "Transferred", num: true, cell: function (r) { return figure(r.transferred); } },
      { title: "Reassigned away", num: true, cell: function (r) { return figure(r.reassigned_away); } },
      { title: "Breached", num: true, cell: function (r) { return figure(r.breached, drill(on("breached", days(r)))); } },
      { title: "Warned", num: true, cell: function (r) { return figure(r.warned); } },
      { title: "CSAT", num: true, cell: function (r) { return r.csat_count ? r.csat_average + " (" + r.csat_count + ")" : figure(null); } },
    ], rows.slice().reverse());
  }

  function renderSla(body, byPriority) {
    var rows = body.rows;
    chart("rp-sla-chart", { type: "line", data: { labels: rows.map(function (r) { return r.label; }), datasets: [
      Object.assign(line("Within SLA (%)", rows.map(function (r) { return r.within_sla_percent; }), COLORS.within), { spanGaps: true }),
    ] }, options: { scales: { y: { min: 0, max: 100 } } } });
    chart("rp-sla-priority-chart", { type: "bar", data: { labels: byPriority.rows.map(function (r) { return T.fmt.title(r.label); }), datasets: [
      bar("Within SLA (%) by priority", byPriority.rows.map(function (r) { return r.within_sla_percent; }), COLORS.within),
    ] }, options: { scales: { y: { min: 0, max: 100 } } } });
    table("rp-sla-table", [
      { title: "Period", cell: function (r) { return r.label; } },
      { title: "Finished", num: true, cell: function (r) { return figure(r.finished, drill(on("closed", days(r), { status: ["completed", "rejected"] }))); } },
      { title: "Within SLA", num: true, cell: function (r) { return figure(r.within_sla); } },
      { title: "Share", num: true, cell: function (r) { return figure(percent(r.within_sla_percent)); } },
      { title: "Breached", num: true, cell: function (r) { return figure(r.breached, drill(on("breached", days(r)))); } },
      { title: "Warnings sent", num: true, cell: function (r) { return figure(r.warned); } },
    ], rows.slice().reverse());
    table("rp-risk-table", [
      { title: "Task", cell: taskCell },
      { title: "Workflow", cell: function (r) { return r.workflow; } },
      { title: "Step", cell: function (r) { return r.step; } },
      { title: "Assignee", cell: function (r) { return r.assignee || el("span", { class: "muted", text: "Nobody" }); } },
      { title: "Priority", cell: function (r) { return T.badge("priority", r.priority); } },
      { title: "Time left", num: true, cell: function (r) { return T.fmt.duration(r.seconds_left); } },
    ], body.at_risk, "No open task is past its first SLA warning.");
  }

  function renderBacklog(body) {
    var rows = body.by_age;
    chart("rp-backlog-chart", { type: "bar", data: { labels: rows.map(function (r) { return r.step + " · " + r.role; }),
      datasets: AGES.map(function (age) { return bar(age[1], rows.map(function (r) { return r[age[0]]; }), age[2], "age"); }) },
      options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } } });
    table("rp-backlog-table", [
      { title: "Role", cell: function (r) { return r.role || "—"; } },
      { title: "Step", cell: function (r) { return r.step || "—"; } },
      { title: "Open", num: true, cell: function (r) { return figure(r.total, drill({ status: "open", role: r.role_id })); } },
    ].concat(AGES.map(function (age) {
      return { title: age[1], num: true, cell: function (r) { return figure(r[age[0]]); } };
    })), rows, "No open tasks.");
    table("rp-oldest-table", [
      { title: "Task", cell: taskCell },
      { title: "Workflow", cell: function (r) { return r.workflow; } },
      { title: "Step", cell: function (r) { return r.step || "—"; } },
      { title: "Status", cell: function (r) { return T.badge("status", r.status); } },
      { title: "Age", num: true, cell: function (r) { return T.fmt.duration(r.age_seconds); } },
    ], body.oldest, "No open tasks.");
  }

  function renderSteps(body) {
    var rows = body.rows;
    chart("rp-steps-chart", { type: "bar", data: { labels: rows.map(function (r) { return r.workflow + " · " + r.step; }), datasets: [
      bar("SLA used (%)", rows.map(function (r) { return r.sla_used_percent; }), COLORS.used),
      bar("Weight (%)", rows.map(function (r) { return r.sla_weight_percent; }), COLORS.weight),
    ] }, options: { scales: { y: { beginAtZero: true } } } });
    table("rp-steps-table", [
      { title: "Workflow", cell: function (r) { return r.workflow; } },
      { title: "Step", cell: function (r) { return r.step; } },
      { title: "Role", cell: function (r) { return r.role; } },
      { title: "Visits", num: true, cell: function (r) { return figure(r.visits); } },
      { title: "Median", num: true, cell: function (r) { return figure(hours(r.median_seconds)); } },
      { title: "p90", num: true, cell: function (r) { return figure(hours(r.p90_seconds)); } },
      { title: "SLA used / weight", num: true, cell: function (r) { return figure(r.sla_used_percent === null ? null : r.sla_used_percent + " / " + r.sla_weight_percent + " %"); } },
      { title: "Breaches here", num: true, cell: function (r) {
        return figure(r.breaches, drill(on("breached", days(), { workflow: r.workflow_id, role: r.role_id })));
      } },
    ], rows, "No step was left in this range.");
  }

  function renderAgents(body) {
    var rows = body.rows;
    chart("rp-agents-chart", { type: "bar", data: { labels: rows.map(function (r) { return r.username; }), datasets: [
      bar("Steps closed", rows.map(function (r) { return r.acted; }), COLORS.completed),
      bar("Open now", rows.map(function (r) { return r.open_now; }), COLORS.open),
      bar("Reassigned away", rows.map(function (r) { return r.reassigned_away; }), COLORS.escalated),
    ] }, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    table("rp-agents-table", [
      { title: "Agent", cell: function (r) { return r.username; } },
      { title: "Assigned", num: true, cell: function (r) { return figure(r.assigned); } },
      { title: "Steps closed", num: true, cell: function (r) { return figure(r.acted); } },
      { title: "Tasks completed", num: true, cell: function (r) { return figure(r.completed); } },
      { title: "Open now", num: true, cell: function (r) { return figure(r.open_now, drill({ status: "open", assigned_user: r.user_id })); } },
      { title: "Median to action", num: true, cell: function (r) { return figure(hours(r.median_seconds_to_action)); } },
      { title: "p90 to action", num: true, cell: function (r) { return figure(hours(r.p90_seconds_to_action)); } },
      { title: "Reassigned away", num: true, cell: function (r) { return figure(r.reassigned_away); } },
      { title: "CSAT", num: true, cell: function (r) { return r.csat_count ? r.csat_average + " (" + r.csat_count + ")" : figure(null); } },
    ], rows, "No agent activity in this range.");
  }

  function load() {
    var query = filters();
    remember(query);
    var seq = ++state.seq;
    T.$("rp-summary").textContent = "Loading…";
    var get = function (name, extra) { return T.api("/reports/" + name + "/", { query: Object.assign({}, query, extra || {}) }); };
    return Promise.all([get("throughput"), get("sla"), get("sla", { group: "priority" }), get("backlog"), get("steps"), get("agents")])
      .then(function (bodies) {
        if (seq !== state.seq) return;
        T.showFieldErrors(T.$("rp-errors"), null);
        renderThroughput(bodies[0]);
        renderSla(bodies[1], bodies[2]);
        renderBacklog(bodies[3]);
        renderSteps(bodies[4]);
        renderAgents(bodies[5]);
        var f = filters();
        T.$("rp-summary").textContent = f.from + " to " + f.to + " · " + f.tz;
        document.body.dataset.reportsLoaded = String(seq);
      }).catch(function (e) {
        if (seq !== state.seq) return;
        T.$("rp-summary").textContent = "No figures shown";
        T.showFieldErrors(T.$("rp-errors"), e, "Could not load the reports");
      });
  }

  /* The API's CSV of one table, saved as a file. */
  function download(button) {
    var report = button.dataset.csv, tableName = button.dataset.table;
    T.api("/reports/" + report + "/", { accept: "text/csv", query: Object.assign(filters(), { table: tableName }) }).then(function (text) {
      var link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })),
                           download: report + "-" + tableName.replace("_", "-") + ".csv" });
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    }).catch(function (e) { T.report(e, "Could not download the CSV"); });
  }

  function options(select, items, selected) {
    items.forEach(function (item) { select.appendChild(el("option", { value: String(item[0]), text: item[1] })); });
    select.value = selected || "";
  }

  T.onReady(function (user) {
    var params = new URLSearchParams(location.search);
    var today = new Date(), from = new Date(today.getTime() - 29 * 86400000);
    T.$("rp-from").value = params.get("from") || isoDay(from);
    T.$("rp-to").value = params.get("to") || isoDay(today);
    T.$("rp-tz").value = params.get("tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    T.$("rp-interval").value = params.get("interval") || "day";
    T.$("rp-priority").value = params.get("priority") || "";
    var lists = [T.api("/workflows/", { query: { page_size: 200 } }).then(function (body) {
      options(T.$("rp-workflow"), body.results.filter(function (w) { return w.status !== "draft"; }).map(function (w) {
        return [w.id, w.name + " v" + w.version];
      }), params.get("workflow"));
    })];
    if (user.isAdmin) {
      lists.push(T.apiAll("/api/v1/roles/", { system: "TTS" }, 5).then(function (roles) {
        options(T.$("rp-role"), roles.map(function (r) { return [r.id, r.name]; }), params.get("role"));
      }));
      lists.push(T.apiAll("/agents/", {}, 5).then(function (agents) {
        options(T.$("rp-agent"), agents.map(function (a) { return [a.user_id, a.username]; }), params.get("agent"));
      }));
    }
    Promise.all(lists).catch(function (e) { T.report(e, "Could not load the filter lists"); }).then(load);
    FILTERS.forEach(function (name) { T.$("rp-" + name).addEventListener("change", load); });
    T.$("rp-filters").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    T.$("rp-clear").addEventListener("click", function () {
      ["workflow", "role", "agent", "priority"].forEach(function (name) { T.$("rp-" + name).value = ""; });
      load();
    });
    document.querySelectorAll("[data-csv]").forEach(function (button) {
      button.addEventListener("click", function () { download(button); });
    });
  });
})();
