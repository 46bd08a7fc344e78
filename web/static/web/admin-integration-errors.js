/* Admin · Integration errors: the give-up record of every consumer (GET /integration-errors/), filtered by status,
   category and ticket; each row's status is set in place (PATCH /integration-errors/{id}/). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PAGE_SIZE = 50;
  var STATUSES = ["pending", "retrying", "escalated", "resolved"];
  var state = { page: 1, searchTimer: null };

  function load() {
    var query = { status: T.$("ie-status").value || null, category: T.$("ie-category").value || null,
                  ticket_id: T.$("ie-ticket").value.trim() || null, page: state.page, page_size: PAGE_SIZE };
    var seq = state.seq = (state.seq || 0) + 1;
    return T.api("/integration-errors/", { query: query }).then(function (body) {
      if (seq !== state.seq) return;
      var tbody = T.clear(T.$("ie-body"));
      body.results.forEach(function (error) { tbody.appendChild(row(error)); });
      if (!body.results.length) {
        tbody.appendChild(el("tr", null, el("td", { colspan: "5", class: "empty-cell" },
          el("strong", { text: "No integration errors match" }),
          el("span", { class: "muted small", text: "Try another status or category." }))));
      }
      T.$("ie-summary").textContent = body.count + (body.count === 1 ? " error" : " errors") +
        (T.$("ie-status").value ? " " + T.$("ie-status").value : "");
      pager(body);
    }).catch(function (e) { T.report(e, "Could not load integration errors"); });
  }

  function pager(body) {
    T.pager(T.$("ie-pager"), body, state.page, PAGE_SIZE, function (page) { state.page = page; load(); });
  }

  function statusSelect(error) {
    var select = el("select", { class: "status-select status-" + error.status, "aria-label": "Status of error #" + error.id },
      STATUSES.map(function (s) { return el("option", { value: s, text: T.fmt.title(s), selected: s === error.status }); }));
    select.addEventListener("change", function () {
      var wanted = select.value;
      select.disabled = true;
      T.api("/integration-errors/" + error.id + "/", { method: "PATCH", body: { status: wanted } }).then(function (updated) {
        error.status = updated.status;
        select.className = "status-select status-" + updated.status;
        select.closest("tr").dataset.status = updated.status;
        T.toast("Error #" + error.id + " marked " + updated.status + ".", "success");
      }).catch(function (e) {
        select.value = error.status;
        T.report(e, "Could not change the status");
      }).finally(function () { select.disabled = false; });
    });
    return select;
  }

  function row(error) {
    return el("tr", { dataset: { id: String(error.id), status: error.status, ticketId: error.ticket_id || "" } },
      el("td", { "data-label": "Error", class: "cell-main ie-message-cell" },
        el("div", { class: "ie-head" }, T.badge("iecat", error.category), error.retry_count ? el("span", { class: "muted small", text: error.retry_count + " retries" }) : null),
        el("div", { class: "ie-message", text: error.message })),
      el("td", { "data-label": "Ticket" },
        error.ticket_id ? el("div", { class: "mono", text: error.ticket_id }) : el("span", { class: "muted", text: "—" }),
        error.dead_letter ? el("a", { class: "small", href: "/app/admin/dead-letters/?status=&id=" + error.dead_letter, text: "Dead letter #" + error.dead_letter }) : null),
      el("td", { "data-label": "Source", class: "mono small", text: error.source }),
      el("td", { "data-label": "Created", class: "nowrap", title: T.fmt.date(error.created_at) }, T.fmt.date(error.created_at)),
      el("td", { "data-label": "Status" }, statusSelect(error)));
  }

  T.onReady(function () {
    var params = new URLSearchParams(location.search);
    if (params.get("ticket_id")) {
      T.$("ie-ticket").value = params.get("ticket_id");
      T.$("ie-status").value = params.get("status") || "";
    } else if (params.has("status")) T.$("ie-status").value = params.get("status");
    ["ie-status", "ie-category"].forEach(function (id) {
      T.$(id).addEventListener("change", function () { state.page = 1; load(); });
    });
    T.$("ie-ticket").addEventListener("input", function () {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(function () { state.page = 1; load(); }, 250);
    });
    load();
  });
})();
