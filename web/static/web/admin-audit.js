/* Admin · Audit log: the engine's audit events (GET /audit/), filtered and paginated on the server by event type,
   actor, ticket, task and date range; the filters live in the address, so a filtered view can be shared. The event
   types offered come from GET /audit/actions/. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PAGE_SIZE = 25;
  // Filter inputs and the query parameter each one sets (the API's and the address bar's names alike).
  var TEXT_FILTERS = { "au-actor": "actor", "au-ticket": "ticket_id", "au-task": "task" };
  var state = { page: 1, timer: null };

  /* Local calendar day "YYYY-MM-DD" (+ days) as the ISO instant of its midnight. */
  function dayStart(value, days) {
    var parts = value.split("-").map(Number);
    return new Date(parts[0], parts[1] - 1, parts[2] + (days || 0)).toISOString();
  }

  function filters() {
    var query = { action: T.$("au-action").value || null };
    Object.keys(TEXT_FILTERS).forEach(function (id) { query[TEXT_FILTERS[id]] = T.$(id).value.trim() || null; });
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
    var query = { action: shown.action, actor: shown.actor, ticket_id: shown.ticket_id, task: shown.task,
                  occurred_after: shown.from ? dayStart(shown.from) : null,
                  occurred_before: shown.to ? dayStart(shown.to, 1) : null, page: state.page, page_size: PAGE_SIZE };
    var seq = state.seq = (state.seq || 0) + 1;
    return T.api("/audit/", { query: query }).then(function (body) {
      if (seq !== state.seq) return;
      T.showFieldErrors(T.$("au-errors"), null);
      var tbody = T.clear(T.$("au-body"));
      body.results.forEach(function (event) { tbody.appendChild(row(event)); });
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

  function loadActions(selected) {
    return T.api("/audit/actions/").then(function (body) {
      var select = T.$("au-action");
      body.actions.forEach(function (action) { select.appendChild(el("option", { value: action, text: action })); });
      if (selected && body.actions.indexOf(selected) < 0) select.appendChild(el("option", { value: selected, text: selected }));
      select.value = selected || "";
    }).catch(function (e) { T.report(e, "Could not load the event types"); });
  }

  T.onReady(function () {
    var params = new URLSearchParams(location.search);
    Object.keys(TEXT_FILTERS).forEach(function (id) { T.$(id).value = params.get(TEXT_FILTERS[id]) || ""; });
    T.$("au-from").value = params.get("from") || "";
    T.$("au-to").value = params.get("to") || "";
    state.page = Math.max(1, Number(params.get("page")) || 1);
    function reload() { state.page = 1; load(); }
    ["au-action", "au-from", "au-to"].forEach(function (id) { T.$(id).addEventListener("change", reload); });
    Object.keys(TEXT_FILTERS).forEach(function (id) {
      T.$(id).addEventListener("input", function () { clearTimeout(state.timer); state.timer = setTimeout(reload, 300); });
    });
    T.$("au-filters").addEventListener("submit", function (event) { event.preventDefault(); clearTimeout(state.timer); reload(); });
    T.$("au-clear").addEventListener("click", function () { T.$("au-filters").reset(); reload(); });
    loadActions(params.get("action")).then(load);
  });
})();
