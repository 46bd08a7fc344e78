/* Admin · Routing simulator: a dry run of intake (POST /simulate/). The answer per ticket — what would happen,
   the workflow match, SLA deadline, first step, assignee and owner with each pick's candidates and filters — is
   rendered with textContent only (TTS.el). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var EXAMPLE = [
    { ticket_id: "SIM-1", title: "Wi-Fi drops on the 3rd floor", category: "IT Support", sub_category: "Network",
      priority: "high", department: "Finance", requester_email: "someone@example.com" },
    { ticket_id: "SIM-2", title: "New laptop for a hire", category: "Procurement", sub_category: "Equipment", priority: "medium" },
    { ticket_id: "SIM-3", title: "Badge reader broken", category: "Facilities", sub_category: "Parking", priority: "low" },
    { ticket_id: "SIM-4", category: "IT Support", sub_category: "Network", priority: "critical" }
  ];
  var OUTCOMES = {
    task: "Would become a task", dead_letter: "Would be dead-lettered",
    duplicate: "Would be skipped (duplicate)", unrouted: "Would wait as unrouted"
  };
  var NOUNS = { task: "new task", dead_letter: "dead letter", duplicate: "duplicate", unrouted: "unrouted ticket" };

  function showError(text) {
    var box = T.clear(T.$("sim-errors"));
    box.hidden = !text;
    if (text) box.appendChild(el("strong", { text: text }));
  }

  function userLabel(decision) {
    if (decision.user_id === null) return "nobody";
    return (decision.username || "user") + " (#" + decision.user_id + ")";
  }

  function pick(title, decision) {
    var removed = decision.filters.filter(function (f) { return f.removed.length; });
    return el("div", { class: "sim-pick" },
      el("div", null, el("strong", { text: title + ": " }), el("span", { class: "sim-user", text: userLabel(decision) }),
        " ", T.badge("sim", decision.outcome)),
      el("div", { class: "muted small", text: T.fmt.title(decision.strategy) + (decision.policy ? " · if nobody is eligible: " + T.fmt.title(decision.policy) : "") +
        " · pointer " + (decision.cursor_before === null ? "—" : decision.cursor_before) + " → " + (decision.cursor_after === null ? "—" : decision.cursor_after) }),
      el("div", { class: "muted small mono", text: "candidates: " + JSON.stringify(decision.candidates) }),
      removed.length ? el("ul", { class: "small mono" }, removed.map(function (f) {
        return el("li", { text: f.filter + " removed " + JSON.stringify(f.removed) });
      })) : null,
      Object.keys(decision.detail || {}).length ? el("div", { class: "muted small mono", text: JSON.stringify(decision.detail) }) : null);
  }

  function facts(rows) {
    return el("dl", { class: "facts" }, rows.filter(Boolean).map(function (r) {
      return [el("dt", { text: r[0] }), el("dd", { text: r[1] })];
    }));
  }

  function card(result) {
    var body = [];
    if (result.outcome === "dead_letter") body.push(el("p", { class: "dl-reason", text: result.dead_letter_reason }));
    if (result.workflow) {
      body.push(facts([
        ["Workflow", result.workflow.name + " (#" + result.workflow.workflow_id + ", v" + result.workflow.version + ")" +
          (result.workflow.department ? " · department " + result.workflow.department : " · any department")],
        ["Priority", result.priority.hdts + " → " + result.priority.internal],
        ["SLA deadline", T.fmt.date(result.sla_deadline)],
        ["First step", result.step.name + " (role " + result.step.role_name + "), due " + T.fmt.date(result.step.due_at)]
      ]));
      body.push(pick("Assignee", result.assignment), pick("Owner", result.owner));
    }
    if (result.match && result.match.candidates.length) {
      body.push(el("div", { class: "muted small" }, "Deployed workflows for this category: ",
        result.match.candidates.map(function (c, i) {
          return (i ? ", " : "") + c.name + " (" + (c.department || "any department") + (c.department_matches ? "" : ", other department") + ")";
        }).join("")));
    }
    body.push(el("ul", { class: "sim-why small" }, result.explanation.map(function (line) { return el("li", { text: line }); })));
    return el("div", { class: "card sim-result", dataset: { outcome: result.outcome, index: String(result.index) } },
      el("div", { class: "sim-head" },
        el("span", { class: "mono", text: "#" + (result.index + 1) + " " + (result.ticket_id || "(no ticket_id)") }), " ",
        T.badge("sim", result.outcome, OUTCOMES[result.outcome])),
      body);
  }

  function run(event) {
    event.preventDefault();
    var parsed;
    try { parsed = JSON.parse(T.$("sim-json").value); } catch (e) {
      showError("The tickets are not valid JSON: " + e.message);
      return;
    }
    showError(null);
    var button = T.$("sim-run");
    button.disabled = true;
    T.api("/simulate/", { method: "POST", body: Array.isArray(parsed) ? { tickets: parsed } : parsed }).then(function (answer) {
      var box = T.clear(T.$("sim-results"));
      answer.results.forEach(function (r) { box.appendChild(card(r)); });
      var counts = {};
      answer.results.forEach(function (r) { counts[r.outcome] = (counts[r.outcome] || 0) + 1; });
      T.$("sim-summary").textContent = "Simulated at " + T.fmt.date(answer.simulated_at) + ": " + Object.keys(counts).map(function (k) {
        return counts[k] + " " + NOUNS[k] + (counts[k] === 1 ? "" : "s");
      }).join(", ") + ".";
    }).catch(function (e) {
      showError(e.message || "The simulation failed.");
    }).then(function () { button.disabled = false; });
  }

  T.onReady(function () {
    var reset = function () { T.$("sim-json").value = JSON.stringify(EXAMPLE, null, 2); showError(null); };
    reset();
    T.$("sim-reset").addEventListener("click", reset);
    T.$("sim-form").addEventListener("submit", run);
  });
})();
