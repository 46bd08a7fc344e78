/* Admin · Dead letters: tickets that could never be ingested (GET /dead-letters/, pending first). Opening one shows
   its reason, source queue and original message; a pending one can be reprocessed (POST .../reprocess/, with the
   ticket as corrected in the editor when it was changed) or discarded (POST .../discard/). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PAGE_SIZE = 25;
  var state = { status: "pending", page: 1, selected: null, original: "", searchTimer: null };

  function statusBadge(status) { return T.badge("dl", status); }

  function pretty(value) { return JSON.stringify(value, null, 2); }

  function shortReason(reason) {
    var text = String(reason || "—");
    return text.length > 140 ? text.slice(0, 139) + "…" : text;
  }

  function load() {
    var query = { status: state.status || null, ticket_id: T.$("dl-ticket").value.trim() || null, page: state.page, page_size: PAGE_SIZE };
    var seq = state.listSeq = (state.listSeq || 0) + 1;
    return T.api("/dead-letters/", { query: query }).then(function (body) {
      if (seq !== state.listSeq) return;
      var tbody = T.clear(T.$("dl-body"));
      body.results.forEach(function (letter) { tbody.appendChild(row(letter)); });
      if (!body.results.length) {
        tbody.appendChild(el("tr", null, el("td", { colspan: "4", class: "empty-cell" },
          el("strong", { text: state.status === "pending" ? "No pending dead letters" : "No dead letters match" }),
          el("span", { class: "muted small", text: state.status === "pending" ? "Every ticket that reached TTS could be read." : "Try another status or ticket id." }))));
      }
      var label = state.status ? T.fmt.title(state.status) + " " : "";
      T.$("dl-summary").textContent = body.count + " " + label.toLowerCase() + (body.count === 1 ? "dead letter" : "dead letters");
      pager(body);
    }).catch(function (e) { T.report(e, "Could not load dead letters"); });
  }

  function pager(body) {
    T.pager(T.$("dl-pager"), body, state.page, PAGE_SIZE, function (page) { state.page = page; load(); });
  }

  function row(letter) {
    var tr = el("tr", { class: "clickable" + (state.selected && state.selected.id === letter.id ? " is-selected" : ""),
                        dataset: { id: String(letter.id), ticketId: letter.ticket_id || "" } },
      el("td", { "data-label": "Ticket", class: "cell-main" },
        el("button", { type: "button", class: "link-button row-link mono", text: letter.ticket_id || "No ticket id" }),
        el("div", { class: "muted small", text: letter.source_queue || letter.task_name || "unknown source" })),
      el("td", { "data-label": "Reason", class: "dl-reason-cell", title: letter.reason }, shortReason(letter.reason)),
      el("td", { "data-label": "Received", class: "nowrap", title: T.fmt.date(letter.received_at) }, T.fmt.ago(letter.received_at)),
      el("td", { "data-label": "Status" }, statusBadge(letter.status)));
    tr.addEventListener("click", function () { open(letter.id); });
    return tr;
  }

  function open(id) {
    var seq = state.openSeq = (state.openSeq || 0) + 1;
    return T.api("/dead-letters/" + id + "/").then(function (letter) {
      if (seq !== state.openSeq) return;
      state.selected = letter;
      render(letter);
      document.querySelectorAll("#dl-body tr").forEach(function (tr) { tr.classList.toggle("is-selected", tr.dataset.id === String(letter.id)); });
      var url = new URL(location.href);
      url.searchParams.set("id", String(letter.id));
      history.replaceState(null, "", url);
    }).catch(function (e) { T.report(e, "Could not open the dead letter"); });
  }

  function close() {
    T.$("dl-panel").hidden = true;
    state.selected = null;
    document.querySelectorAll("#dl-body tr.is-selected").forEach(function (tr) { tr.classList.remove("is-selected"); });
    var url = new URL(location.href);
    url.searchParams.delete("id");
    history.replaceState(null, "", url);
  }

  function render(letter) {
    T.$("dl-panel").hidden = false;
    T.$("dl-panel").dataset.status = letter.status;
    T.$("dl-title").textContent = letter.ticket_id || "Dead letter #" + letter.id;
    T.clear(T.$("dl-subtitle")).appendChild(statusBadge(letter.status));
    T.$("dl-subtitle").appendChild(document.createTextNode(" Dead letter #" + letter.id));
    T.$("dl-reason").textContent = letter.reason || "No reason recorded.";
    var facts = [
      ["Source queue", letter.source_queue || "—"],
      ["Task", letter.task_name || "—"],
      ["Dead-lettered", T.fmt.date(letter.dead_lettered_at)],
      ["Received", T.fmt.date(letter.received_at)],
      ["Retries", String(letter.retries)],
      ["Integration error", letter.integration_error ? el("a", { href: "/app/admin/integration-errors/?ticket_id=" + encodeURIComponent(letter.ticket_id || ""), text: "#" + letter.integration_error }) : "none linked"],
    ];
    if (letter.status !== "pending") {
      facts.push([T.fmt.title(letter.status), T.fmt.date(letter.resolved_at) + (letter.resolved_by ? " by user #" + letter.resolved_by : " from the command line")]);
      if (letter.resolution_note) facts.push(["Note", letter.resolution_note]);
    }
    var dl = T.clear(T.$("dl-facts"));
    facts.forEach(function (f) { dl.appendChild(el("dt", { text: f[0] })); dl.appendChild(el("dd", null, f[1])); });
    T.$("dl-message").textContent = letter.raw ? letter.raw : pretty(letter.kwargs || {});

    var ticket = letter.kwargs && letter.kwargs.ticket_data;
    state.original = ticket !== undefined ? pretty(ticket) : "";
    T.$("dl-ticket-json").value = state.original;
    T.$("dl-reprocess-note").value = "";
    T.$("dl-discard-note").value = "";
    showErrors(null);
    T.$("dl-actions").hidden = letter.status !== "pending";
  }

  /* Field errors of a refused ticket, one line each ("priority: Must be one of …"). */
  function showErrors(lines, title) {
    var box = T.$("dl-errors");
    T.clear(box);
    if (!lines || !lines.length) { box.hidden = true; return; }
    box.appendChild(el("strong", { text: title || "The ticket was refused:" }));
    box.appendChild(el("ul", null, lines.map(function (line) { return el("li", { text: line }); })));
    box.hidden = false;
  }

  function errorLines(body) {
    var errors = body && body.errors;
    if (!errors) return [];
    var lines = [];
    function walk(value, prefix) {
      if (Array.isArray(value)) value.forEach(function (v) { walk(v, prefix); });
      else if (value && typeof value === "object") Object.keys(value).forEach(function (k) { walk(value[k], k === "non_field_errors" ? prefix : (prefix ? prefix + "." : "") + k); });
      else lines.push((prefix ? prefix + ": " : "") + String(value));
    }
    Object.keys(errors).forEach(function (field) { walk(errors[field], field === "ticket" || field === "non_field_errors" ? "" : field); });
    return lines;
  }

  function reprocess(event) {
    event.preventDefault();
    var letter = state.selected;
    var text = T.$("dl-ticket-json").value;
    var body = { note: T.$("dl-reprocess-note").value.trim() };
    if (text.trim() !== state.original.trim()) {
      var ticket;
      try { ticket = JSON.parse(text); } catch (e) {
        showErrors([e.message], "The ticket is not valid JSON:");
        T.$("dl-ticket-json").focus();
        return;
      }
      if (JSON.stringify(ticket) !== JSON.stringify(JSON.parse(state.original || "null"))) body.ticket = ticket;
    }
    showErrors(null);
    var button = T.$("dl-reprocess");
    button.disabled = true;
    T.api("/dead-letters/" + letter.id + "/reprocess/", { method: "POST", body: body }).then(function (updated) {
      T.toast("Ticket " + (updated.ticket_id || "#" + updated.id) + (body.ticket ? " corrected and" : "") + " sent for processing again.", "success");
      render(updated);
      state.selected = updated;
      return load();
    }).catch(function (e) {
      if (e instanceof T.ApiError && e.status === 400) showErrors(errorLines(e.body));
      else T.report(e, "Could not reprocess");
      if (e instanceof T.ApiError && e.status === 409) open(letter.id).then(load);
    }).finally(function () { button.disabled = false; });
  }

  function discard(event) {
    event.preventDefault();
    var letter = state.selected;
    var button = T.$("dl-discard");
    button.disabled = true;
    T.api("/dead-letters/" + letter.id + "/discard/", { method: "POST", body: { note: T.$("dl-discard-note").value.trim() } }).then(function (updated) {
      T.toast("Dead letter " + (updated.ticket_id || "#" + updated.id) + " discarded.", "success");
      render(updated);
      state.selected = updated;
      return load();
    }).catch(function (e) {
      T.report(e, "Could not discard");
      if (e instanceof T.ApiError && e.status === 409) open(letter.id).then(load);
    }).finally(function () { button.disabled = false; });
  }

  T.onReady(function () {
    var params = new URLSearchParams(location.search);
    if (params.has("status")) state.status = params.get("status");
    if (params.get("ticket_id")) T.$("dl-ticket").value = params.get("ticket_id");
    document.querySelectorAll("#dl-status .segment").forEach(function (b) {
      b.classList.toggle("is-active", b.dataset.status === state.status);
      b.addEventListener("click", function () {
        state.status = b.dataset.status;
        state.page = 1;
        document.querySelectorAll("#dl-status .segment").forEach(function (x) { x.classList.toggle("is-active", x === b); });
        load();
      });
    });
    T.$("dl-ticket").addEventListener("input", function () {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(function () { state.page = 1; load(); }, 250);
    });
    T.$("dl-refresh").addEventListener("click", function () { load(); if (state.selected) open(state.selected.id); });
    T.$("dl-close").addEventListener("click", close);
    T.$("dl-ticket-reset").addEventListener("click", function () { T.$("dl-ticket-json").value = state.original; showErrors(null); });
    T.$("dl-reprocess-form").addEventListener("submit", reprocess);
    T.$("dl-discard-form").addEventListener("submit", discard);
    load();
    if (params.get("id")) open(params.get("id"));
  });
})();
