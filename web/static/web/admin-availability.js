/* Admin · Availability: every user the engine knows with their status, out-of-office window, open tasks and
   capacity (GET /agents/, paginated and filtered on the server); open one to change it
   (PUT /agents/{user_id}/availability/). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el, A = T.availability;
  var PAGE_SIZE = 25;
  var state = { page: 1, selected: null, chosen: "active", searchTimer: null };

  function load() {
    var query = { search: T.$("av-search").value.trim() || null, status: T.$("av-status").value || null,
                  page: state.page, page_size: PAGE_SIZE };
    var seq = state.seq = (state.seq || 0) + 1;
    return T.api("/agents/", { query: query }).then(function (body) {
      if (seq !== state.seq) return;
      var tbody = T.clear(T.$("av-body"));
      body.results.forEach(function (agent) { tbody.appendChild(row(agent)); });
      if (!body.results.length) {
        tbody.appendChild(el("tr", null, el("td", { colspan: "4", class: "empty-cell" },
          el("strong", { text: "No users match" }), el("span", { class: "muted small", text: "Try another status or search." }))));
      }
      T.$("av-summary").textContent = body.count + (body.count === 1 ? " user" : " users") +
        (T.$("av-status").value ? " " + T.$("av-status").value : "");
      T.pager(T.$("av-pager"), body, state.page, PAGE_SIZE, function (page) { state.page = page; load(); });
    }).catch(function (e) { T.report(e, "Could not load users"); });
  }

  /* Counts per stored status: one small request each (page_size=1), so they stay right however many users. */
  function loadCounts() {
    [["all", null], ["active", "active"], ["away", "away"], ["unavailable", "unavailable"]].forEach(function (pair) {
      T.api("/agents/", { query: { status: pair[1], page_size: 1 } }).then(function (body) {
        T.$("av-count-" + pair[0]).textContent = String(body.count);
      }).catch(function () { /* the table reports failures */ });
    });
  }

  function statusCell(agent) {
    var shown = A.effective(agent);
    var away = agent.away_from || agent.away_until
      ? "Out of office " + (agent.away_from ? "from " + T.fmt.date(agent.away_from) + " " : "") + (agent.away_until ? "until " + T.fmt.date(agent.away_until) : "")
      : "";
    return [el("span", { class: "badge badge-avail-" + shown, text: A.labels[shown] }),
      away ? el("div", { class: "muted small", text: away }) : null,
      agent.reason ? el("div", { class: "muted small av-reason", text: agent.reason }) : null];
  }

  function loadCell(agent) {
    var cap = agent.max_open_tasks;
    var full = cap !== null && agent.open_tasks >= cap;
    return el("div", { class: "av-load" + (full ? " is-full" : "") },
      el("strong", { class: "av-open", text: String(agent.open_tasks) }),
      el("span", { class: "muted small", text: cap === null ? "no cap" : "of " + cap + (full ? " · at capacity" : "") }),
      cap ? el("span", { class: "av-bar", "aria-hidden": "true" },
        el("span", { class: "av-bar-fill", dataset: { fill: String(Math.min(100, Math.round(agent.open_tasks * 100 / cap))) } })) : null);
  }

  function row(agent) {
    var tr = el("tr", { class: "clickable" + (state.selected && state.selected.user_id === agent.user_id ? " is-selected" : ""),
                        dataset: { userId: String(agent.user_id), username: agent.username, status: A.effective(agent) } },
      el("td", { "data-label": "User", class: "cell-main" },
        el("div", { class: "user-cell" },
          el("span", { class: "avatar avatar-small", "aria-hidden": "true", text: agent.username[0].toUpperCase() }),
          el("div", null,
            el("button", { type: "button", class: "link-button row-link", text: agent.username }),
            el("div", { class: "muted small", text: agent.roles.join(", ") || "No roles" })))),
      el("td", { "data-label": "Status" }, statusCell(agent)),
      el("td", { "data-label": "Open tasks" }, loadCell(agent)),
      el("td", { "data-label": "Changed", class: "nowrap small muted", text: agent.updated_at ? T.fmt.date(agent.updated_at) : "Never" }));
    // Bar widths come from data attributes: the CSP allows no inline styles, so set them through the CSSOM.
    tr.querySelectorAll(".av-bar-fill").forEach(function (bar) { bar.style.width = bar.dataset.fill + "%"; });
    tr.addEventListener("click", function () { open(agent); });
    return tr;
  }

  function choose(status) {
    state.chosen = status;
    document.querySelectorAll("#av-form-status .segment").forEach(function (b) {
      var on = b.dataset.status === status;
      b.classList.toggle("is-active", on);
      b.setAttribute("aria-checked", String(on));
    });
    T.$("av-window").hidden = status !== "active";
  }

  function open(agent) {
    state.selected = agent;
    T.$("av-panel").hidden = false;
    T.$("av-username").textContent = agent.username;
    T.$("av-roles").textContent = (agent.roles.join(", ") || "No roles") + " · " + agent.open_tasks + " open tasks";
    choose(agent.status);
    T.$("av-from").value = A.toInput(agent.away_from);
    T.$("av-until").value = A.toInput(agent.away_until);
    T.$("av-reason").value = agent.reason || "";
    T.$("av-capacity").value = agent.max_open_tasks === null ? "" : String(agent.max_open_tasks);
    T.showFieldErrors(T.$("av-errors"), null);
    document.querySelectorAll("#av-body tr[data-user-id]").forEach(function (tr) {
      tr.classList.toggle("is-selected", tr.dataset.userId === String(agent.user_id));
    });
  }

  function save() {
    var agent = state.selected, active = state.chosen === "active", capacity = T.$("av-capacity").value.trim();
    var body = { status: state.chosen, reason: T.$("av-reason").value.trim(),
                 away_from: active ? A.fromInput(T.$("av-from").value) : null,
                 away_until: active ? A.fromInput(T.$("av-until").value) : null,
                 max_open_tasks: capacity === "" ? null : Number(capacity) };
    T.$("av-save").disabled = true;
    T.api("/agents/" + agent.user_id + "/availability/", { method: "PUT", body: body }).then(function (saved) {
      T.toast(saved.username + " is now " + A.labels[A.effective(saved)].toLowerCase() + ".", "success");
      T.showFieldErrors(T.$("av-errors"), null);
      loadCounts();
      return load().then(function () {
        var fresh = T.$("av-body").querySelector("tr[data-user-id='" + agent.user_id + "']");
        if (fresh) fresh.click();
      });
    }).catch(function (e) { T.showFieldErrors(T.$("av-errors"), e, "Could not save the availability"); })
      .finally(function () { T.$("av-save").disabled = false; });
  }

  T.onReady(function () {
    var params = new URLSearchParams(location.search);
    if (params.has("status")) T.$("av-status").value = params.get("status");
    T.$("av-search").addEventListener("input", function () {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(function () { state.page = 1; load(); }, 250);
    });
    T.$("av-status").addEventListener("change", function () { state.page = 1; load(); });
    document.querySelectorAll("#av-form-status .segment").forEach(function (b) {
      b.addEventListener("click", function () { choose(b.dataset.status); });
    });
    T.$("av-close").addEventListener("click", function () { T.$("av-panel").hidden = true; state.selected = null; });
    T.$("av-form").addEventListener("submit", function (event) { event.preventDefault(); save(); });
    // The admin's own change from the top bar shows here too.
    window.addEventListener("tts:availability", function () { loadCounts(); load(); });
    loadCounts();
    load();
  });
})();
