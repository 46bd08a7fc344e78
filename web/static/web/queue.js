/* My queue (GET /tasks/?mine=true) and, for admins, all tasks: search, filters, sorting and paging all on the server,
   one page of tasks in the browser at a time (keyset cursors, so a deep page costs what the first does). Saved views
   (/tasks/views/) store the filters, search and sort; selected tasks can be transferred, held, resumed or escalated
   at once (POST /tasks/bulk-actions/), with what was done and what was refused, and why, shown per task. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var OPEN = ["pending", "in_progress", "on_hold", "awaiting_external", "pending_external_approval", "awaiting_asset_selection"];
  var PAGE_SIZE = 50;
  var DAY_EVENTS = ["created", "closed", "breached"];  // the list's day filters: <event>_from, <event>_to, in tz
  var ADDRESS_FILTERS = ["workflow", "role", "assigned_user", "tz"].concat(DAY_EVENTS.reduce(function (keys, event) {
    return keys.concat([event + "_from", event + "_to"]);
  }, []));
  var state = { scope: "mine", tasks: [], byId: {}, cursor: "", page: 1, selected: {}, views: [], seq: 0, timer: null, extra: {} };

  // --- The list's query: the form <-> the API's parameters (a saved view stores the same) ---------------------------
  function formQuery() {
    var status = T.$("filter-status").value, priority = T.$("filter-priority").value;
    return {
      q: T.$("filter-search").value.trim(),
      status: status === "open" ? OPEN.slice() : status ? [status] : [],
      priority: priority ? [priority] : [],
      sla_state: T.$("filter-sla").value,
      mine: state.scope === "mine",
      ordering: T.$("filter-ordering").value,
    };
  }

  function applyQuery(query) {
    state.extra = {};  // a saved view replaces the address's drill-down filters
    T.$("filter-note").hidden = true;
    T.$("filter-search").value = query.q || "";
    var status = query.status || [];
    var isOpen = status.length === OPEN.length && OPEN.every(function (s) { return status.indexOf(s) >= 0; });
    T.$("filter-status").value = isOpen ? "open" : status.length === 1 ? status[0] : "";
    T.$("filter-priority").value = (query.priority || [])[0] || "";
    T.$("filter-sla").value = query.sla_state || "";
    T.$("filter-ordering").value = query.ordering || "sla_deadline";
    setScope(query.mine || !state.isAdmin ? "mine" : "all");
  }

  function apiQuery(query, extra) {
    return Object.assign({
      q: query.q || null, status: query.status, priority: query.priority, sla_state: query.sla_state || null,
      mine: query.mine ? "true" : null, ordering: query.ordering || null,
    }, state.extra, extra);
  }

  /* Filters given in the address (a report's drill-down links): the form takes what it offers; workflow, role,
     assignee, several statuses at once and the days (created, closed or breached, in tz) apply as they are, and
     are named in the note, until "Show all" clears them. */
  function fromAddress() {
    var params = new URLSearchParams(location.search), statuses = params.getAll("status");
    state.extra = {};
    if (params.get("scope") === "all" && state.isAdmin) setScope("all");
    var isOpen = statuses.length === OPEN.length && OPEN.every(function (s) { return statuses.indexOf(s) >= 0; });
    if (isOpen) T.$("filter-status").value = "open";
    else if (statuses.length === 1) T.$("filter-status").value = statuses[0];
    else if (statuses.length > 1) { T.$("filter-status").value = ""; state.extra.status = statuses; }
    else if (params.has("scope")) T.$("filter-status").value = "";
    if (params.get("priority")) T.$("filter-priority").value = params.get("priority");
    if (params.get("sla_state")) T.$("filter-sla").value = params.get("sla_state");
    ADDRESS_FILTERS.forEach(function (key) { if (params.get(key)) state.extra[key] = params.get(key); });
    var dated = DAY_EVENTS.filter(function (event) { return state.extra[event + "_from"] || state.extra[event + "_to"]; });
    T.$("filter-note-days").textContent = dated.length ? ": " + dated.map(function (event) {
      return event + " " + (state.extra[event + "_from"] || "…") + " to " + (state.extra[event + "_to"] || "…");
    }).join(", ") + " (" + (state.extra.tz || "UTC") + ")" : "";
    T.$("filter-note").hidden = !Object.keys(state.extra).length;
  }

  // --- Loading one page ---------------------------------------------------------------------------------------------
  function cursorOf(link) {
    return link ? new URL(link, location.href).searchParams.get("cursor") : null;
  }

  function load() {
    var seq = ++state.seq, query = formQuery();
    T.$("queue-table").setAttribute("aria-busy", "true");
    return T.api("/tasks/", { query: apiQuery(query, { page_size: PAGE_SIZE, cursor: state.cursor || "" }) }).then(function (body) {
      if (seq !== state.seq) return;
      T.showFieldErrors(T.$("queue-errors"), null);
      state.tasks = body.results;
      state.byId = {};
      body.results.forEach(function (t) { state.byId[t.task_id] = t; });
      render(body, query);
    }).catch(function (e) {
      if (seq !== state.seq) return;
      T.showFieldErrors(T.$("queue-errors"), e, "Could not load the tasks");
      T.$("queue-summary").textContent = "Could not load tasks.";
    }).finally(function () {
      if (seq === state.seq) T.$("queue-table").removeAttribute("aria-busy");
    });
  }

  function refresh() { load(); loadStats(); }  // the page shown, anew
  function reload() { state.cursor = ""; state.page = 1; refresh(); }  // from the first page

  /* The four counters, each the count of one filtered list (one row fetched). */
  function loadStats() {
    var mine = state.scope === "mine" ? "true" : null;
    var counters = [
      ["stat-open", { status: OPEN }],
      ["stat-breached", { status: OPEN, sla_state: "breached" }],
      ["stat-warning", { status: OPEN, sla_state: "warning" }],
      ["stat-hold", { status: "on_hold" }],
    ];
    counters.forEach(function (counter) {
      T.api("/tasks/", { query: Object.assign({ mine: mine, page_size: 1 }, counter[1]) }).then(function (body) {
        T.$(counter[0]).textContent = (body.count_is_estimate ? "~" : "") + body.count.toLocaleString();
      }).catch(function () { T.$(counter[0]).textContent = "–"; });
    });
  }

  // --- Rendering ----------------------------------------------------------------------------------------------------
  function slaCell(task) {
    var info = T.slaInfo(task);
    return el("span", { class: "sla sla-" + info.level, dataset: { sla: "1" }, title: task.sla_deadline ? "Due " + T.fmt.date(task.sla_deadline) : "" },
      el("span", { class: "sla-dot", "aria-hidden": "true" }), el("span", { class: "sla-text", text: info.text }));
  }

  function row(task) {
    var href = T.taskUrl(task.task_id);
    var box = el("input", { type: "checkbox", class: "select-task", "aria-label": "Select " + task.external_ticket_id });
    box.checked = Boolean(state.selected[task.task_id]);
    box.addEventListener("change", function () { select(task, box.checked); });
    var tr = el("tr", { class: "queue-row", dataset: { taskId: task.task_id, ticketId: task.external_ticket_id } },
      el("td", { class: "select-cell" }, box),
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
      if (event.target.closest("a, input, .select-cell")) return;
      location.href = href;
    });
    return tr;
  }

  function render(body, query) {
    var tbody = T.clear(T.$("queue-body"));
    state.tasks.forEach(function (t) { tbody.appendChild(row(t)); });
    T.$("queue-empty").hidden = state.tasks.length > 0;
    T.$("queue-table").classList.toggle("is-empty", state.tasks.length === 0);
    var count = (body.count_is_estimate ? "about " : "") + body.count.toLocaleString();
    T.$("queue-summary").textContent = count + (body.count === 1 ? " task" : " tasks") +
      (query.q ? " matching “" + query.q + "”" : "") +
      (state.scope === "mine" ? " assigned to or owned by you" : " in the system") +
      " · " + T.$("filter-ordering").selectedOptions[0].textContent.toLowerCase();
    pager(body);
    syncPageBox();
  }

  function pager(body) {
    var box = T.clear(T.$("queue-pager"));
    if (!body.next && !body.previous) return;
    box.appendChild(el("button", { type: "button", class: "button button-small", id: "page-previous", disabled: !body.previous,
      text: "← Previous", onclick: function () { state.cursor = cursorOf(body.previous); state.page -= 1; load(); } }));
    box.appendChild(el("span", { class: "muted small", text: "Page " + state.page }));
    box.appendChild(el("button", { type: "button", class: "button button-small", id: "page-next", disabled: !body.next,
      text: "Next →", onclick: function () { state.cursor = cursorOf(body.next); state.page += 1; load(); } }));
  }

  function tick() {
    // Countdowns move every second without refetching.
    document.querySelectorAll("#queue-body tr").forEach(function (tr) {
      var task = state.byId[tr.dataset.taskId];
      var cell = tr.querySelector("[data-sla]");
      if (task && cell) cell.replaceWith(slaCell(task));
    });
  }

  // --- Selection and bulk actions ------------------------------------------------------------------------------------
  function selectedTasks() { return Object.keys(state.selected).map(function (id) { return state.selected[id]; }); }

  function select(task, on) {
    if (on) state.selected[task.task_id] = task; else delete state.selected[task.task_id];
    syncBulkBar();
    syncPageBox();
  }

  function syncPageBox() {
    var all = T.$("select-page"), shown = state.tasks.filter(function (t) { return state.selected[t.task_id]; }).length;
    all.checked = shown > 0 && shown === state.tasks.length;
    all.indeterminate = shown > 0 && shown < state.tasks.length;
  }

  function syncBulkBar() {
    var tasks = selectedTasks();
    T.$("bulk-bar").hidden = tasks.length === 0;
    T.$("bulk-count").textContent = tasks.length + " selected";
    var transfer = T.$("bulk-action").value === "transfer";
    T.$("bulk-user-field").hidden = !transfer;
    if (transfer && tasks.length) loadTransferTargets(tasks[0]);
  }

  /* Who a transfer may go to: the active, available users of the first selected task's step role (the server checks
     each task against its own role). */
  function loadTransferTargets(task) {
    var select = T.$("bulk-user");
    if (select.dataset.taskId === task.task_id) return;
    select.dataset.taskId = task.task_id;
    T.clear(select);
    T.api("/tasks/" + encodeURIComponent(task.task_id) + "/transfer-targets/").then(function (users) {
      users.forEach(function (u) { select.appendChild(el("option", { value: String(u.id), text: u.username })); });
    }).catch(function (e) { T.report(e, "Could not list who may take the task"); });
  }

  function applyBulk() {
    var tasks = selectedTasks(), action = T.$("bulk-action").value;
    var body = { action: action, task_ids: tasks.map(function (t) { return t.task_id; }), notes: T.$("bulk-notes").value };
    if (action === "transfer") body.to_user = Number(T.$("bulk-user").value) || null;
    var button = T.$("bulk-apply");
    button.disabled = true;
    T.api("/tasks/bulk-actions/", { method: "POST", body: body }).then(function (result) {
      showOutcomes(result, tasks, action);
      state.selected = {};
      syncBulkBar();
      refresh();
    }).catch(function (e) { T.report(e, "The bulk action failed"); }).finally(function () { button.disabled = false; });
  }

  function showOutcomes(result, tasks, action) {
    var names = {};
    tasks.forEach(function (t) { names[t.task_id] = t.external_ticket_id + " · " + t.title; });
    T.$("bulk-summary").textContent = T.fmt.title(action) + ": " + result.done + " done, " + result.refused + " refused";
    var list = T.clear(T.$("bulk-results-list"));
    result.results.forEach(function (outcome) {
      list.appendChild(el("li", { class: "bulk-outcome " + (outcome.done ? "is-done" : "is-refused"), dataset: { taskId: outcome.task_id } },
        el("span", { class: "bulk-outcome-state", text: outcome.done ? "Done" : "Refused" }),
        el("span", { class: "bulk-outcome-task", text: names[outcome.task_id] || outcome.task_id }),
        el("span", { class: "bulk-outcome-reason", text: outcome.done ? "now " + T.fmt.title(outcome.task_status) : outcome.reason })));
    });
    T.$("bulk-results").hidden = false;
  }

  // --- Saved views --------------------------------------------------------------------------------------------------
  function loadViews(selectId) {
    return T.apiAll("/tasks/views/", {}, 5).then(function (views) {
      state.views = views;
      var select = T.clear(T.$("view-select"));
      select.appendChild(el("option", { value: "", text: "—" }));
      views.forEach(function (v) { select.appendChild(el("option", { value: String(v.id), text: v.name })); });
      select.value = selectId ? String(selectId) : "";
      T.$("view-delete").hidden = !select.value;
    }).catch(function (e) { T.report(e, "Could not load your saved views"); });
  }

  function chooseView() {
    var id = T.$("view-select").value;
    T.$("view-delete").hidden = !id;
    var view = state.views.filter(function (v) { return String(v.id) === id; })[0];
    if (view) { applyQuery(view.query); reload(); }
  }

  function saveView(event) {
    event.preventDefault();
    var error = T.$("view-error");
    error.hidden = true;
    T.api("/tasks/views/", { method: "POST", body: { name: T.$("view-name").value.trim(), query: formQuery() } }).then(function (view) {
      T.$("view-save-form").hidden = true;
      T.$("view-name").value = "";
      T.toast("View “" + view.name + "” saved", "success");
      return loadViews(view.id);
    }).catch(function (e) {
      var errors = (e.body && e.body.errors) || {};
      error.textContent = (errors.name || errors.query || [e.message]).join(" ");
      error.hidden = false;
    });
  }

  function deleteView() {
    var id = T.$("view-select").value;
    if (!id) return;
    T.api("/tasks/views/" + encodeURIComponent(id) + "/", { method: "DELETE" }).then(function () {
      T.toast("View deleted", "success");
      return loadViews();
    }).catch(function (e) { T.report(e, "Could not delete the view"); });
  }

  // --- Wiring -------------------------------------------------------------------------------------------------------
  function setScope(scope) {
    state.scope = scope;
    document.querySelectorAll("[data-scope]").forEach(function (b) {
      b.classList.toggle("is-active", b.dataset.scope === scope);
      b.setAttribute("aria-pressed", String(b.dataset.scope === scope));
    });
    T.$("queue-title").textContent = scope === "mine" ? "My queue" : "All tasks";
  }

  T.onReady(function (user) {
    state.isAdmin = user.isAdmin;
    document.querySelectorAll("[data-scope]").forEach(function (button) {
      button.addEventListener("click", function () { setScope(button.dataset.scope); reload(); });
    });
    ["filter-status", "filter-priority", "filter-sla", "filter-ordering"].forEach(function (id) { T.$(id).addEventListener("change", reload); });
    T.$("filter-search").addEventListener("input", function () { clearTimeout(state.timer); state.timer = setTimeout(reload, 300); });
    T.$("filters").addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(state.timer); reload(); });
    T.$("refresh").addEventListener("click", refresh);
    T.$("select-page").addEventListener("change", function (event) {
      state.tasks.forEach(function (t) { if (event.target.checked) state.selected[t.task_id] = t; else delete state.selected[t.task_id]; });
      document.querySelectorAll("#queue-body .select-task").forEach(function (box) { box.checked = event.target.checked; });
      syncBulkBar();
    });
    T.$("bulk-action").addEventListener("change", syncBulkBar);
    T.$("bulk-apply").addEventListener("click", applyBulk);
    T.$("bulk-clear").addEventListener("click", function () {
      state.selected = {};
      document.querySelectorAll("#queue-body .select-task").forEach(function (box) { box.checked = false; });
      syncBulkBar();
      syncPageBox();
    });
    T.$("bulk-results-close").addEventListener("click", function () { T.$("bulk-results").hidden = true; });
    T.$("view-select").addEventListener("change", chooseView);
    T.$("view-save").addEventListener("click", function () { T.$("view-save-form").hidden = false; T.$("view-name").focus(); });
    T.$("view-save-cancel").addEventListener("click", function () { T.$("view-save-form").hidden = true; });
    T.$("view-save-form").addEventListener("submit", saveView);
    T.$("view-delete").addEventListener("click", deleteView);
    // A new assignment, transfer or escalation arrives as a notification: refresh the page shown at once.
    window.addEventListener("tts:notification", refresh);
    setInterval(tick, 1000);
    setInterval(function () { if (!document.hidden) refresh(); }, 30000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
    T.$("filter-note-clear").addEventListener("click", function () {
      state.extra = {};
      T.$("filter-note").hidden = true;
      history.replaceState(null, "", location.pathname);
      reload();
    });
    setScope("mine");
    fromAddress();
    loadViews();
    reload();
  });
})();
