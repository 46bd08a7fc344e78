/* Admin · Workflows: the list, and for the chosen workflow (GET /workflows/{id}/) its graph of steps and transitions
   (workflow-graph.js), its steps and its routing/SLA settings; the designer edits them. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var state = { workflows: [], selectedId: null };
  var EXTERNAL_CHECKS = { ams_reserve: "AMS reservation", bms_budget_check: "BMS budget check" };

  function loadList() {
    var status = T.$("wf-status-filter").value;
    return T.apiAll("/workflows/", { status: status || null }, 5).then(function (workflows) {
      state.workflows = workflows.sort(function (a, b) { return a.name.localeCompare(b.name) || b.version - a.version; });
      var list = T.clear(T.$("wf-list"));
      state.workflows.forEach(function (wf) {
        var item = el("li", { class: "wf-item" + (wf.id === state.selectedId ? " is-selected" : ""), dataset: { workflowId: String(wf.id) }, tabindex: "0" },
          el("div", { class: "wf-item-head" }, el("strong", { text: wf.name }), T.badge("wf", wf.status)),
          el("div", { class: "muted small", text: wf.category + " › " + wf.sub_category + (wf.department ? " · " + wf.department : "") }),
          el("div", { class: "muted small", text: "v" + wf.version + " · " + wf.steps.length + (wf.steps.length === 1 ? " step" : " steps") }));
        item.addEventListener("click", function () { select(wf.id); });
        item.addEventListener("keydown", function (e) { if (e.key === "Enter") select(wf.id); });
        list.appendChild(item);
      });
      T.$("wf-empty").hidden = state.workflows.length > 0;
      T.$("wf-summary").textContent = state.workflows.length + (state.workflows.length === 1 ? " workflow" : " workflows") +
        (status ? " " + status : "");
      var wanted = Number(location.hash.slice(1)) || state.selectedId;
      if (wanted && state.workflows.some(function (w) { return w.id === wanted; })) select(wanted);
      else if (state.workflows.length) select(state.workflows[0].id);
      else T.$("wf-detail").hidden = true;
    }).catch(function (e) { T.report(e, "Could not load workflows"); });
  }

  function select(id) {
    state.selectedId = id;
    history.replaceState(null, "", "#" + id);
    document.querySelectorAll(".wf-item").forEach(function (n) { n.classList.toggle("is-selected", n.dataset.workflowId === String(id)); });
    // Only the latest selection is drawn: an earlier answer arriving late (the page's own first pick) must not win.
    T.api("/workflows/" + id + "/").then(function (wf) { if (state.selectedId === id) renderDetail(wf); })
      .catch(function (e) { T.report(e, "Could not load the workflow"); });
  }

  function renderDetail(wf) {
    T.$("wf-detail").hidden = false;
    T.$("wf-title").textContent = wf.name;
    T.$("wf-design").href = "/app/admin/workflows/designer/#" + wf.id;
    T.$("wf-description").textContent = wf.description || "";
    var badges = T.clear(T.$("wf-badges"));
    badges.appendChild(T.badge("wf", wf.status));
    badges.appendChild(el("span", { class: "badge badge-neutral", text: "v" + wf.version }));
    T.drawWorkflowGraph(T.$("wf-graph"), T.$("wf-legend"), wf);
    var steps = wf.steps.slice().sort(function (a, b) { return a.order - b.order; });
    var tbody = T.clear(T.$("wf-steps"));
    steps.forEach(function (s, i) {
      tbody.appendChild(el("tr", null, el("td", { text: String(i + 1) }), el("td", { text: s.name }), el("td", { text: s.role_name }),
        el("td", { text: Number(s.sla_weight) + "%" }), el("td", { text: EXTERNAL_CHECKS[s.external_action] || "—" })));
    });
    var facts = T.clear(T.$("wf-facts"));
    var sla = wf.sla_hours || {};
    [
      ["Matches", wf.category + " › " + wf.sub_category + (wf.department ? " · " + wf.department : " · any department")],
      ["Coordinator", wf.coordinator_role_name || "—"],
      ["SLA urgent", hours(sla.urgent)], ["SLA high", hours(sla.high)], ["SLA medium", hours(sla.medium)], ["SLA low", hours(sla.low)],
      ["SLA clock", wf.calendar_name ? "Business hours: " + wf.calendar_name : "Round the clock"],
      ["SLA warnings", (wf.sla_warning_thresholds || []).length ? wf.sla_warning_thresholds.map(function (p) { return p + "%"; }).join(", ") : "None"],
      ["Deployed", wf.deployed_at ? T.fmt.date(wf.deployed_at) : "—"],
    ].forEach(function (p) { facts.appendChild(el("dt", { text: p[0] })); facts.appendChild(el("dd", { text: p[1] })); });
  }

  function hours(value) {
    if (value === undefined || value === null) return "—";
    return value < 1 ? Math.round(value * 60) + " min" : (Math.round(value * 10) / 10) + " h";
  }

  T.onReady(function () {
    T.$("wf-status-filter").addEventListener("change", loadList);
    loadList();
  });
})();
