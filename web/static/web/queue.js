/* My queue: GET /tasks/?mine=true (admins may switch to all tasks), SLA countdowns, filters, search, live refresh. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PRIORITY_RANK = { urgent: 0, high: 1, medium: 2, low: 3 };
  var OPEN = ["pending", "in_progress", "on_hold", "awaiting_external", "pending_external_approval"];
  var state = { scope: "mine", tasks: [], byId: {}, loading: false, extra: {} };

  function query() {
    var status = T.$("filter-status").value;
    return Object.assign({
      mine: state.scope === "mine" ? "true" : null,
      status: status === "open" ? OPEN : status || null,
      priority: T.$("filter-priority").value || null,
      sla_state: T.$("filter-sla").value || null,
      ordering: "sla_deadline",
    }, state.extra);
  }

  /* Filters given in the address (a report's drill-down links): the selects take what they offer; workflow, role,
     assignee and several statuses at once are applied as they are until the filters are cleared. */
  function fromAddress(user) {
    var params = new URLSearchParams(location.search);
    state.extra = {};
    if (params.get("scope") === "all" && user.isAdmin) state.scope = "all";
    var statuses = params.getAll("status");
    if (statuses.length === 1) T.$("filter-status").value = statuses[0];
    else if (statuses.length > 1) { T.$("filter-status").value = ""; state.extra.status = statuses; }
    else if (params.has("scope")) T.$("filter-status").value = "";
    if (params.get("priority")) T.$("filter-priority").value = params.get("priority");
    if (params.get("sla_state")) T.$("filter-sla").value = params.get("sla_state");
    ["workflow", "role", "assigned_user"].forEach(function (key) { if (params.get(key)) state.extra[key] = params.get(key); });
    T.$("filter-note").hidden = !Object.keys(state.extra).length;
  }

  function load() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    T.$("queue-table").setAttribute("aria-busy", "true");
    T.apiAll("/tasks/", query(), 4).then(function (tasks) {
      state.tasks = tasks;
      state.byId = {};
      tasks.forEach(function (t) { state.byId[t.task_id] = t; });
      render();
    }).catch(function (e) {
      T.report(e, "Could not load the queue");
      T.$("queue-summary").textContent = "Could not load tasks.";
    }).finally(function () {
      state.loading = false;
      T.$("queue-table").removeAttribute("aria-busy");
      if (state.again) { state.again = false; load(); }
    });
  }

  function matches(task, needle) {
    if (!needle) return true;
    return [task.title, task.external_ticket_id, task.current_step_name, task.role_name, task.assigned_username,
            task.description].some(function (v) { return v && String(v).toLowerCase().indexOf(needle) >= 0; });
  }

  function slaCell(task) {
    var info = T.slaInfo(task);
    return el("span", { class: "sla sla-" + info.level, dataset: { sla: "1" }, title: task.sla_deadline ? "Due " + T.fmt.date(task.sla_deadline) : "" },
      el("span", { class: "sla-dot", "aria-hidden": "true" }), el("span", { class: "sla-text", text: info.text }));
  }

  function row(task) {
    var href = T.taskUrl(task.task_id);
    var tr = el("tr", { class: "queue-row", dataset: { taskId: task.task_id, ticketId: task.external_ticket_id } },
      el("td", { "data-label": "Priority" }, T.badge("priority", task.priority)),
      el("td", { "data-label": "Task", class: "cell-main" },
        el("a", { class: "row-link", href: href, text: task.title }),
        el("div", { class: "muted small", text: task.external_ticket_id + " · opened " + T.fmt.ago(task.created_at) })),
      el("td", { "data-label": "Step" },
        el("div", { text: task.current_step_name || "—" }),
        el("div", { class: "muted small", text: task.role_name || "" })),
      el("td", { "data-label": "Status" }, T.badge("status", task.status)),
      el("td", { "data-label": "SLA" }, slaCell(task)),
      el("td", { "data-label": "Assignee", text: task.assigned_username || "Unassigned" }));
    tr.addEventListener("click", function (event) {
      if (event.target.closest("a")) return;
      location.href = href;
    });
    return tr;
  }

  function render() {
    var needle = T.$("filter-search").value.trim().toLowerCase();
    var tasks = state.tasks.filter(function (t) { return matches(t, needle); });
    tasks.sort(function (a, b) {
      var sa = T.slaInfo(a), sb = T.slaInfo(b);
      var la = sa.left === undefined ? Infinity : sa.left, lb = sb.left === undefined ? Infinity : sb.left;
      return la - lb || PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority];
    });
    var body = T.clear(T.$("queue-body"));
    tasks.forEach(function (t) { body.appendChild(row(t)); });
    T.$("queue-empty").hidden = tasks.length > 0;
    T.$("queue-table").classList.toggle("is-empty", tasks.length === 0);
    var open = state.tasks.filter(function (t) { return OPEN.indexOf(t.status) >= 0; });
    var levels = open.map(function (t) { return T.slaInfo(t).level; });
    T.$("stat-open").textContent = open.length;
    T.$("stat-breached").textContent = levels.filter(function (l) { return l === "breached"; }).length;
    T.$("stat-warning").textContent = levels.filter(function (l) { return l === "warning" || l === "critical"; }).length;
    T.$("stat-hold").textContent = open.filter(function (t) { return t.status === "on_hold"; }).length;
    T.$("queue-summary").textContent = tasks.length + (tasks.length === 1 ? " task" : " tasks") +
      (needle ? " matching “" + needle + "”" : "") + (state.scope === "mine" ? " assigned to or owned by you" : " in the system") +
      ", most urgent first";
  }

  function tick() {
    // Countdowns move every second without refetching.
    var rows = document.querySelectorAll("#queue-body tr");
    rows.forEach(function (tr) {
      var task = state.byId[tr.dataset.taskId];
      var cell = tr.querySelector("[data-sla]");
      if (task && cell) cell.replaceWith(slaCell(task));
    });
  }

  T.onReady(function (user) {
    var title = T.$("queue-title");
    fromAddress(user);
    T.$("filter-note-clear").addEventListener("click", function () {
      state.extra = {};
      T.$("filter-note").hidden = true;
      history.replaceState(null, "", location.pathname);
      load();
    });
    document.querySelectorAll("[data-scope]").forEach(function (button) {
      button.addEventListener("click", function () {
        state.scope = button.dataset.scope;
        document.querySelectorAll("[data-scope]").forEach(function (b) {
          b.classList.toggle("is-active", b === button);
          b.setAttribute("aria-pressed", String(b === button));
        });
        title.textContent = state.scope === "mine" ? "My queue" : "All tasks";
        load();
      });
      if (button.dataset.scope === state.scope && state.scope !== "mine") button.click();
    });
    ["filter-status", "filter-priority", "filter-sla"].forEach(function (id) { T.$(id).addEventListener("change", load); });
    T.$("filter-search").addEventListener("input", render);
    T.$("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    T.$("refresh").addEventListener("click", load);
    // A new assignment, transfer or escalation arrives as a notification: refresh the queue at once.
    window.addEventListener("tts:notification", load);
    setInterval(tick, 1000);
    setInterval(function () { if (!document.hidden) load(); }, 30000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) load(); });
    load();
  });
})();
