/* Admin · Audit log, from one of two sources (the Source filter, offered as the user's permissions allow): the
   engine's audit events (GET /audit/, admins) and the auth service's (GET /api/v1/audit/, users.manage). Filtered and
   paginated on the server by event type, actor, date range and, per source, ticket and task or target user; the
   filters live in the address, so a filtered view can be shared. Each source's event types come from its API. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PAGE_SIZE = 25;
  // Per source: its list and event types, the API's name of the event type filter, and the text filter inputs with
  // the query parameter each one sets (the API's and the address bar's names alike).
  var SOURCES = {
    engine: { list: "/audit/", types: "/audit/actions/", typesKey: "actions", typeParam: "action",
              filters: { "au-actor": "actor", "au-ticket": "ticket_id", "au-task": "task" } },
    auth: { list: "/api/v1/audit/", types: "/api/v1/audit/event-types/", typesKey: "event_types", typeParam: "event_type",
            filters: { "au-actor": "actor", "au-target": "target" } },
  };
  var TEXT_FILTERS = { "au-actor": "actor", "au-ticket": "ticket_id", "au-task": "task", "au-target": "target" };
  var state = { page: 1, timer: null };

  function source() { return SOURCES[T.$("au-source").value]; }

  /* Local calendar day "YYYY-MM-DD" (+ days) as the ISO instant of its midnight. */
  function dayStart(value, days) {
    var parts = value.split("-").map(Number);
    return new Date(parts[0], parts[1] - 1, parts[2] + (days || 0)).toISOString();
  }

  function filters() {
    var query = { source: T.$("au-source").value, action: T.$("au-action").value || null };
    Object.keys(source().filters).forEach(function (id) { query[TEXT_FILTERS[id]] = T.$(id).value.trim() || null; });
    query.from = T.$("au-from").value || null;
    query.to = T.$("au-to").value || null;
    return query;
  }

  function remember(query) {
    var params = new URLSearchParams();
    Object.keys(query).forEach(function (key) { if (query[key]) params.set(key, query[key]); });
    if (state.page > 1) params.set("page", String(state.page));
    var qs = params.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  function load() {
    var shown = filters();
    remember(shown);
    var from = source(), isAuth = from === SOURCES.auth;
    var query = { occurred_after: shown.from ? dayStart(shown.from) : null,
                  occurred_before: shown.to ? dayStart(shown.to, 1) : null, page: state.page, page_size: PAGE_SIZE };
    query[from.typeParam] = shown.action;
    Object.keys(from.filters).forEach(function (id) { query[from.filters[id]] = shown[from.filters[id]]; });
    var seq = state.seq = (state.seq || 0) + 1;
    return T.api(from.list, { query: query }).then(function (body) {
      if (seq !== state.seq) return;
      T.showFieldErrors(T.$("au-errors"), null);
      var tbody = T.clear(T.$("au-body"));
      body.results.forEach(function (event) { tbody.appendChild(isAuth ? authRow(event) : row(event)); });
      if (!body.results.length) {
        tbody.appendChild(el("tr", null, el("td", { colspan: "5", class: "empty-cell" },
          el("strong", { text: "No events match" }), el("span", { class: "muted small", text: "Widen the date range or clear a filter." }))));
      }
      T.$("au-summary").textContent = body.count + (body.count === 1 ? " event" : " events");
      T.pager(T.$("au-pager"), body, state.page, PAGE_SIZE, function (page) { state.page = page; load(); });
    }).catch(function (e) {
      if (seq !== state.seq) return;
      T.clear(T.$("au-body"));
      T.clear(T.$("au-pager"));
      T.$("au-summary").textContent = "No events shown";
      T.showFieldErrors(T.$("au-errors"), e, "Could not load the audit log");
    });
  }

  /* A button that narrows the log to this value of one filter. */
  function filterLink(inputId, value, text, className) {
    return el("button", { type: "button", class: "link-button au-filter-link " + (className || ""), text: text || value,
      title: "Show only these events", onclick: function (event) {
        event.stopPropagation();
        T.$(inputId).value = value;
        state.page = 1;
        load();
      } });
  }

  function subject(event) {
    var parts = [];
    if (event.entity_type === "task") {
      parts.push(el("div", null, el("a", { class: "mono small", href: T.taskUrl(event.entity_id), title: event.entity_id,
        text: "Task " + event.entity_id.slice(0, 8) + "…" }), " ", filterLink("au-task", event.entity_id, "only this task", "au-only small")));
    } else {
      parts.push(el("div", { class: "small", text: T.fmt.title(event.entity_type) + " " + event.entity_id }));
    }
    if (event.ticket_id) parts.push(el("div", null, filterLink("au-ticket", event.ticket_id, null, "mono small")));
    return parts;
  }

  function details(data) {
    var keys = Object.keys(data || {});
    if (!keys.length) return el("span", { class: "muted", text: "—" });
    var line = keys.slice(0, 4).map(function (k) {
      var v = data[k];
      return k + ": " + (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
    }).join(" · ");
    return el("details", { class: "au-details" },
      el("summary", { class: "small", text: line.length > 140 ? line.slice(0, 139) + "…" : line }),
      el("pre", { class: "code-block", text: JSON.stringify(data, null, 2) }));
  }

  function row(event) {
    return el("tr", { dataset: { id: String(event.id), action: event.action, ticketId: event.ticket_id || "" } },
      el("td", { "data-label": "When", class: "nowrap" },
        el("div", { text: T.fmt.date(event.occurred_at) }), el("div", { class: "muted small", text: T.fmt.ago(event.occurred_at) })),
      el("td", { "data-label": "Event" }, filterLink("au-action", event.action, null, "au-action-link mono")),
      el("td", { "data-label": "Actor" }, event.actor_username
        ? filterLink("au-actor", event.actor_username)
        : el("span", { class: "muted", text: event.actor_id === null ? "Engine" : "User #" + event.actor_id })),
      el("td", { "data-label": "Subject" }, subject(event)),
      el("td", { "data-label": "Details", class: "au-details-cell" }, details(event.data)));
  }

  /* An auth service event: who (and from which address), what, to whom or which role. */
  function authRow(event) {
    var subject = [];
    if (event.target_username) subject.push(el("div", null, filterLink("au-target", event.target_username)));
    if (event.role_name) subject.push(el("div", { class: "small", text: "Role " + event.role_name }));
    return el("tr", { dataset: { id: String(event.id), action: event.event_type, target: event.target_username } },
      el("td", { "data-label": "When", class: "nowrap" },
        el("div", { text: T.fmt.date(event.occurred_at) }), el("div", { class: "muted small", text: T.fmt.ago(event.occurred_at) })),
      el("td", { "data-label": "Event" }, filterLink("au-action", event.event_type, null, "au-action-link mono")),
      el("td", { "data-label": "Actor" }, event.actor_username
        ? filterLink("au-actor", event.actor_username)
        : el("span", { class: "muted", text: event.event_type.indexOf("login.") === 0 ? "Anonymous" : "System" }),
        event.source_address ? el("div", { class: "muted small mono au-address", text: "from " + event.source_address }) : null),
      el("td", { "data-label": "Subject" }, subject.length ? subject : el("span", { class: "muted", text: "—" })),
      el("td", { "data-label": "Details", class: "au-details-cell" }, details(event.details)));
  }

  function loadActions(selected) {
    var from = source(), select = T.clear(T.$("au-action"));
    select.appendChild(el("option", { value: "", text: "Any event" }));
    return T.api(from.types).then(function (body) {
      var types = body[from.typesKey];
      types.forEach(function (action) { select.appendChild(el("option", { value: action, text: action })); });
      if (selected && types.indexOf(selected) < 0) select.appendChild(el("option", { value: selected, text: selected }));
      select.value = selected || "";
    }).catch(function (e) { T.report(e, "Could not load the event types"); });
  }

  /* Show the filters of the chosen source only. */
  function showSourceFilters() {
    var chosen = T.$("au-source").value;
    document.querySelectorAll("#au-filters [data-source]").forEach(function (field) { field.hidden = field.dataset.source !== chosen; });
  }

  T.onReady(function (user) {
    var params = new URLSearchParams(location.search);
    var allowed = ["engine", "auth"].filter(function (name) { return user.can(name === "engine" ? "admin" : "users.manage"); });
    T.$("au-source").value = allowed.indexOf(params.get("source")) >= 0 ? params.get("source") : allowed[0];
    showSourceFilters();
    Object.keys(TEXT_FILTERS).forEach(function (id) { T.$(id).value = params.get(TEXT_FILTERS[id]) || ""; });
    T.$("au-from").value = params.get("from") || "";
    T.$("au-to").value = params.get("to") || "";
    state.page = Math.max(1, Number(params.get("page")) || 1);
    function reload() { state.page = 1; load(); }
    ["au-action", "au-from", "au-to"].forEach(function (id) { T.$(id).addEventListener("change", reload); });
    T.$("au-source").addEventListener("change", function () {
      showSourceFilters();
      state.page = 1;
      loadActions(null).then(load);
    });
    Object.keys(TEXT_FILTERS).forEach(function (id) {
      T.$(id).addEventListener("input", function () { clearTimeout(state.timer); state.timer = setTimeout(reload, 300); });
    });
    T.$("au-filters").addEventListener("submit", function (event) { event.preventDefault(); clearTimeout(state.timer); reload(); });
    T.$("au-clear").addEventListener("click", function () {
      var chosen = T.$("au-source").value;
      T.$("au-filters").reset();
      T.$("au-source").value = chosen;  // clearing filters keeps the source
      reload();
    });
    loadActions(params.get("action")).then(load);
  });
})();
