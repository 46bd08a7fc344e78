/* Admin · Unrouted tickets: valid tickets no deployed workflow matched (GET /unrouted-tickets/), waiting ones first;
   each is routed, and becomes a task, once a workflow for its category deploys. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PAGE_SIZE = 50;
  var state = { routed: "false", page: 1 };

  function load() {
    var query = { routed: state.routed || null, category: T.$("ur-category").value || null, page: state.page, page_size: PAGE_SIZE };
    var seq = state.seq = (state.seq || 0) + 1;
    return T.api("/unrouted-tickets/", { query: query }).then(function (body) {
      if (seq !== state.seq) return;
      var tbody = T.clear(T.$("ur-body"));
      body.results.forEach(function (t) { tbody.appendChild(row(t)); });
      if (!body.results.length) {
        tbody.appendChild(el("tr", null, el("td", { colspan: "5", class: "empty-cell" },
          el("strong", { text: state.routed === "false" ? "No ticket is waiting for a workflow" : "No tickets match" }),
          el("span", { class: "muted small", text: state.routed === "false" ? "Every ticket received so far matched a deployed workflow." : "Try another filter." }))));
      }
      var what = state.routed === "false" ? " waiting for a workflow" : state.routed === "true" ? " routed since" : " in all";
      T.$("ur-summary").textContent = body.count + (body.count === 1 ? " ticket" : " tickets") + what;
      pager(body);
    }).catch(function (e) { T.report(e, "Could not load unrouted tickets"); });
  }

  function pager(body) {
    T.pager(T.$("ur-pager"), body, state.page, PAGE_SIZE, function (page) { state.page = page; load(); });
  }

  function row(t) {
    var payload = t.payload || {};
    return el("tr", { dataset: { ticketId: t.ticket_id } },
      el("td", { "data-label": "Ticket", class: "cell-main" },
        el("div", { class: "row-link", text: payload.title || "(no title)" }),
        el("div", { class: "muted small" }, el("span", { class: "mono", text: t.ticket_id }),
          payload.priority ? " · " + T.fmt.title(payload.priority) + " priority" : "")),
      el("td", { "data-label": "Category" },
        el("div", { text: t.category }), el("div", { class: "muted small", text: t.sub_category })),
      el("td", { "data-label": "Department", text: t.department || "—" }),
      el("td", { "data-label": "Received", class: "nowrap", title: T.fmt.date(t.received_at), text: T.fmt.date(t.received_at) }),
      el("td", { "data-label": "Routed" }, t.routed_at
        ? el("div", null, T.badge("ur", "routed"),
            el("div", { class: "muted small" }, T.fmt.date(t.routed_at)),
            t.task_id ? el("a", { class: "small", href: T.taskUrl(t.task_id), text: "Open task" }) : null)
        : T.badge("ur", "waiting")));
  }

  function loadCategories() {
    return T.apiAll("/unrouted-tickets/", { page_size: 200 }, 3).then(function (all) {
      var select = T.$("ur-category");
      var seen = {};
      all.forEach(function (t) { seen[t.category] = true; });
      Object.keys(seen).sort().forEach(function (c) { select.appendChild(el("option", { value: c, text: c })); });
    }).catch(function () { /* the filter is secondary */ });
  }

  T.onReady(function () {
    document.querySelectorAll("#ur-routed .segment").forEach(function (b) {
      b.addEventListener("click", function () {
        state.routed = b.dataset.routed;
        state.page = 1;
        document.querySelectorAll("#ur-routed .segment").forEach(function (x) { x.classList.toggle("is-active", x === b); });
        load();
      });
    });
    T.$("ur-category").addEventListener("change", function () { state.page = 1; load(); });
    loadCategories();
    load();
  });
})();
