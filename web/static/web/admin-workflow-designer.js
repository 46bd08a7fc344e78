/* Admin · Workflow designer: create and edit a draft with every field of the workflow API, see its graph redrawn at
   each edit (workflow-graph.js) and the deploy validation (POST /workflows/validate/) shown next to the step or
   transition it is about; save it whole (PUT with its revision: a concurrent save is a 409, offered as a reload),
   replay recent tickets against it (POST /workflows/{id}/impact/), deploy, archive, make a new version, export and
   import. The page's hash names the workflow (#new: a new one). */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var PRIORITIES = ["urgent", "high", "medium", "low"];
  var ACTIONS = ["approve", "reject", "escalate"];
  var STRATEGIES = { round_robin: "Round-robin", least_loaded: "Least loaded" };
  var POLICIES = { hold: "Hold (admins told)", escalate_to_lead: "Escalate to the role's lead", least_loaded_away: "Least-loaded away user" };
  var EXTERNAL = { "": "None", ams_reserve: "AMS asset reservation", bms_budget_check: "BMS budget check" };
  var END = ""; // the "leads to" value of a transition that ends the task
  var CHECK_DELAY_MS = 350;

  var state = { id: null, wf: null, draft: null, roles: [], calendars: [], dirty: false, timer: null, checkSeq: 0 };

  // --- Draft <-> API body ------------------------------------------------------------------------------------------
  function blankDraft() {
    return {
      name: "", description: "", category: "", sub_category: "", department: "",
      coordinator_role_id: null, escalation_role_id: null,
      sla_hours: { urgent: 4, high: 8, medium: 24, low: 72 }, calendar_id: null, sla_warning_thresholds: [50, 75, 90],
      steps: [], transitions: [],
    };
  }

  function draftOf(wf) {
    return {
      name: wf.name, description: wf.description, category: wf.category, sub_category: wf.sub_category, department: wf.department,
      coordinator_role_id: wf.coordinator_role_id, escalation_role_id: wf.escalation_role_id,
      sla_hours: Object.assign({}, wf.sla_hours), calendar_id: wf.calendar_id, sla_warning_thresholds: wf.sla_warning_thresholds.slice(),
      steps: wf.steps.slice().sort(function (a, b) { return a.order - b.order; }).map(function (s) {
        return { name: s.name, role_id: s.role_id, sla_weight: Number(s.sla_weight), assignment_strategy: s.assignment_strategy,
                 no_eligible_policy: s.no_eligible_policy, external_action: s.external_action };
      }),
      transitions: wf.transitions.map(function (t) { return { from_step: t.from_step, action: t.action, to_step: t.to_step }; }),
    };
  }

  function number(value) { return value === "" || value === null || isNaN(Number(value)) ? null : Number(value); }

  function body() {
    var d = state.draft;
    var hours = {};
    PRIORITIES.forEach(function (p) { hours[p] = number(d.sla_hours[p]); });
    return {
      name: d.name, description: d.description, category: d.category, sub_category: d.sub_category, department: d.department,
      coordinator_role_id: d.coordinator_role_id, escalation_role_id: d.escalation_role_id, sla_hours: hours,
      calendar_id: d.calendar_id, sla_warning_thresholds: d.sla_warning_thresholds,
      steps: d.steps.map(function (s, i) {
        return { name: s.name, order: i + 1, role_id: s.role_id, sla_weight: s.sla_weight === null ? null : String(s.sla_weight),
                 assignment_strategy: s.assignment_strategy, no_eligible_policy: s.no_eligible_policy, external_action: s.external_action };
      }),
      transitions: d.transitions.map(function (t) { return { from_step: t.from_step, action: t.action, to_step: t.to_step }; }),
    };
  }

  function roleName(id) {
    var role = state.roles.filter(function (r) { return r.id === id; })[0];
    return role ? role.name : id ? "Role " + id : "(no role)";
  }

  // --- Rendering ---------------------------------------------------------------------------------------------------
  function options(select, choices, value) {
    T.clear(select);
    choices.forEach(function (c) { select.appendChild(el("option", { value: c[0], text: c[1] })); });
    select.value = value === null || value === undefined ? "" : String(value);
  }

  function roleChoices(blankLabel) {
    var choices = blankLabel ? [["", blankLabel]] : [["", "Choose a role…"]];
    return choices.concat(state.roles.map(function (r) { return [String(r.id), r.name + (r.is_active === false ? " (inactive)" : "")]; }));
  }

  function renderForm() {
    var d = state.draft;
    ["name", "category", "sub_category", "department", "description"].forEach(function (f) {
      T.$("wd-" + f.replace("_", "-")).value = d[f] || "";
    });
    options(T.$("wd-coordinator"), roleChoices(), d.coordinator_role_id);
    options(T.$("wd-escalation"), roleChoices("The coordinator (default)"), d.escalation_role_id);
    PRIORITIES.forEach(function (p) { T.$("wd-sla-" + p).value = d.sla_hours[p] === null ? "" : d.sla_hours[p]; });
    options(T.$("wd-calendar"), [["", "Round the clock"]].concat(state.calendars.map(function (c) { return [String(c.id), c.name]; })), d.calendar_id);
    T.$("wd-thresholds").value = d.sla_warning_thresholds.join(", ");
    renderSteps();
    renderTransitions();
  }

  function fieldSelect(field, choices, value, onChange) {
    var select = el("select", { dataset: { field: field }, "aria-label": T.fmt.title(field) });
    options(select, choices, value);
    select.addEventListener("change", function () { onChange(select.value); });
    return select;
  }

  function fieldInput(field, attrs, value, onInput) {
    var input = el("input", Object.assign({ dataset: { field: field }, "aria-label": T.fmt.title(field), autocomplete: "off" }, attrs));
    input.value = value === null || value === undefined ? "" : value;
    input.addEventListener("input", function () { onInput(input.value); });
    return input;
  }

  function errorRow(columns) {
    return el("tr", { class: "wd-row-errors", hidden: true }, el("td", { colspan: String(columns) }, el("ul", { class: "wd-errors" })));
  }

  function renderSteps() {
    var tbody = T.clear(T.$("wd-steps"));
    state.draft.steps.forEach(function (s, i) {
      var row = el("tr", { class: "wd-step", dataset: { index: String(i) } },
        el("td", { class: "muted", text: String(i + 1) }),
        el("td", null, fieldInput("name", { maxlength: "100", placeholder: "Step name" }, s.name, function (v) { renameStep(i, v); })),
        el("td", null, fieldSelect("role_id", roleChoices(), s.role_id, function (v) { s.role_id = number(v); changed(); })),
        el("td", null, fieldInput("sla_weight", { type: "number", min: "0", max: "100", step: "any", class: "wd-narrow" }, s.sla_weight,
          function (v) { s.sla_weight = number(v); changed(); })),
        el("td", null, fieldSelect("assignment_strategy", pairs(STRATEGIES), s.assignment_strategy, function (v) { s.assignment_strategy = v; changed(); })),
        el("td", null, fieldSelect("no_eligible_policy", pairs(POLICIES), s.no_eligible_policy, function (v) { s.no_eligible_policy = v; changed(); })),
        el("td", null, fieldSelect("external_action", pairs(EXTERNAL), s.external_action, function (v) { s.external_action = v; changed(); })),
        el("td", { class: "nowrap" },
          el("button", { type: "button", class: "icon-button", "aria-label": "Move up", text: "↑", disabled: i === 0, onclick: function () { moveStep(i, -1); } }),
          el("button", { type: "button", class: "icon-button", "aria-label": "Move down", text: "↓", disabled: i === state.draft.steps.length - 1, onclick: function () { moveStep(i, 1); } }),
          el("button", { type: "button", class: "icon-button", "aria-label": "Remove step", text: "×", onclick: function () { removeStep(i); } })));
      tbody.appendChild(row);
      tbody.appendChild(errorRow(8));
    });
    if (!state.draft.steps.length) tbody.appendChild(el("tr", null, el("td", { colspan: "8", class: "muted", text: "No steps yet: add the first one." })));
  }

  function pairs(labels) { return Object.keys(labels).map(function (k) { return [k, labels[k]]; }); }

  function stepChoices() {
    return state.draft.steps.filter(function (s) { return s.name; }).map(function (s) { return [s.name, s.name]; });
  }

  function renderTransitions() {
    var tbody = T.clear(T.$("wd-transitions"));
    state.draft.transitions.forEach(function (t, i) {
      var from = stepChoices(), to = stepChoices().concat([[END, "End (approve: completed · reject: rejected)"]]);
      if (t.from_step && !from.some(function (c) { return c[0] === t.from_step; })) from.unshift([t.from_step, t.from_step + " (unknown)"]);
      tbody.appendChild(el("tr", { class: "wd-transition", dataset: { index: String(i) } },
        el("td", null, fieldSelect("from_step", [["", "Choose a step…"]].concat(from), t.from_step, function (v) { t.from_step = v; changed(); })),
        el("td", null, fieldSelect("action", ACTIONS.map(function (a) { return [a, T.fmt.title(a)]; }), t.action, function (v) { t.action = v; changed(); })),
        el("td", null, fieldSelect("to_step", to, t.to_step === null ? END : t.to_step, function (v) { t.to_step = v === END ? null : v; changed(); })),
        el("td", null, el("button", { type: "button", class: "icon-button", "aria-label": "Remove transition", text: "×",
          onclick: function () { state.draft.transitions.splice(i, 1); renderTransitions(); changed(); } }))));
      tbody.appendChild(errorRow(4));
    });
    if (!state.draft.transitions.length) tbody.appendChild(el("tr", null, el("td", { colspan: "4", class: "muted", text: "No transitions yet." })));
  }

  // --- Edits -------------------------------------------------------------------------------------------------------
  function renameStep(i, name) {
    var old = state.draft.steps[i].name;
    state.draft.steps[i].name = name;
    state.draft.transitions.forEach(function (t) {
      if (old && t.from_step === old) t.from_step = name;
      if (old && t.to_step === old) t.to_step = name;
    });
    renderTransitions();
    changed();
  }

  function moveStep(i, by) {
    var steps = state.draft.steps, moved = steps.splice(i, 1)[0];
    steps.splice(i + by, 0, moved);
    renderSteps();
    changed();
  }

  function removeStep(i) {
    var name = state.draft.steps[i].name;
    state.draft.steps.splice(i, 1);
    state.draft.transitions = state.draft.transitions.filter(function (t) { return t.from_step !== name; });
    state.draft.transitions.forEach(function (t) { if (t.to_step === name) t.to_step = null; });
    renderSteps();
    renderTransitions();
    changed();
  }

  function addStep() {
    var steps = state.draft.steps;
    var used = steps.reduce(function (sum, s) { return sum + (s.sla_weight || 0); }, 0);
    steps.push({ name: "", role_id: null, sla_weight: Math.max(0, 100 - used), assignment_strategy: "round_robin",
                 no_eligible_policy: "hold", external_action: "" });
    renderSteps();
    changed();
    var inputs = T.$("wd-steps").querySelectorAll("tr.wd-step [data-field=name]");
    inputs[inputs.length - 1].focus();
  }

  function addTransition() {
    var steps = state.draft.steps;
    state.draft.transitions.push({ from_step: steps.length ? steps[steps.length - 1].name : "", action: "approve", to_step: null });
    renderTransitions();
    changed();
  }

  function readTopFields() {
    var d = state.draft;
    ["name", "category", "sub_category", "department", "description"].forEach(function (f) { d[f] = T.$("wd-" + f.replace("_", "-")).value; });
    d.coordinator_role_id = number(T.$("wd-coordinator").value);
    d.escalation_role_id = number(T.$("wd-escalation").value);
    PRIORITIES.forEach(function (p) { d.sla_hours[p] = number(T.$("wd-sla-" + p).value); });
    d.calendar_id = number(T.$("wd-calendar").value);
    var text = T.$("wd-thresholds").value.trim();
    d.sla_warning_thresholds = text ? text.split(/[\s,;]+/).filter(Boolean).map(number) : [];
  }

  function changed() {
    state.dirty = true;
    updateHeader();
    draw([]);
    clearTimeout(state.timer);
    state.timer = setTimeout(check, CHECK_DELAY_MS);
  }

  // --- Validation --------------------------------------------------------------------------------------------------
  /* A 400's field errors as problems: nested step/transition errors carry their row index. */
  function problemsOf400(errors) {
    var problems = [];
    Object.keys(errors || {}).forEach(function (field) {
      var value = errors[field];
      if (Array.isArray(value) && value.some(function (v) { return v && typeof v === "object"; })) {
        value.forEach(function (item, index) {
          Object.keys(item || {}).forEach(function (sub) {
            [].concat(item[sub]).forEach(function (m) { problems.push({ field: field, index: index, message: T.fmt.title(sub) + ": " + m }); });
          });
        });
      } else if (value && typeof value === "object" && !Array.isArray(value)) {
        Object.keys(value).forEach(function (sub) {
          [].concat(value[sub]).forEach(function (m) { problems.push({ field: field, message: T.fmt.title(sub) + ": " + m }); });
        });
      } else {
        [].concat(value).forEach(function (m) { problems.push({ field: field, message: String(m) }); });
      }
    });
    return problems;
  }

  function check() {
    var seq = ++state.checkSeq;
    setCheck("checking", "Checking…");
    return T.api("/workflows/validate/", { method: "POST", body: body() }).then(function (result) {
      if (seq === state.checkSeq) show(result.problems);
    }, function (e) {
      if (seq !== state.checkSeq) return;
      if (e.status === 400 && e.body) show(problemsOf400(e.body.errors));
      else { setCheck("error", "Could not check"); T.report(e, "Could not check the draft"); }
    });
  }

  function setCheck(kind, text) {
    var box = T.$("wd-check");
    box.dataset.state = kind;
    box.textContent = text;
  }

  /* Each problem next to what it is about: a transition row (step + action, or its index), else a step row (step
     name, or index), else the form field, else the list under the graph. */
  function show(problems) {
    document.querySelectorAll("#wd-form .field-error").forEach(function (n) { n.hidden = true; n.textContent = ""; });
    document.querySelectorAll(".wd-row-errors").forEach(function (r) { r.hidden = true; T.clear(r.querySelector("ul")); });
    var general = T.clear(T.$("wd-problems"));
    var stepRows = T.$("wd-steps").querySelectorAll("tr.wd-step"), transitionRows = T.$("wd-transitions").querySelectorAll("tr.wd-transition");
    var marked = {};
    function rowFor(p) {
      if (p.field === "transitions") {
        if (p.index !== undefined) return transitionRows[p.index];
        if (p.action) {
          var t = state.draft.transitions.findIndex(function (x) { return x.from_step === p.step && x.action === p.action; });
          if (t >= 0) return transitionRows[t];
        }
      }
      if (p.field === "steps" && p.index !== undefined) return stepRows[p.index];
      if (p.step) {
        var s = state.draft.steps.findIndex(function (x) { return x.name === p.step; });
        if (s >= 0) return stepRows[s];
      }
      return null;
    }
    problems.forEach(function (p) {
      if (p.step) marked[p.step] = true;
      var row = rowFor(p);
      if (row) {
        var errors = row.nextElementSibling;
        errors.hidden = false;
        errors.querySelector("ul").appendChild(el("li", { class: "field-error", text: p.message }));
        return;
      }
      var slot = document.querySelector('#wd-form [data-error-for="' + p.field + '"]');
      if (slot && p.field !== "steps" && p.field !== "transitions") {
        slot.hidden = false;
        slot.textContent = (slot.textContent ? slot.textContent + " " : "") + p.message;
        return;
      }
      general.appendChild(el("li", { class: "field-error", text: (p.field === "steps" || p.field === "transitions" ? "" : T.fmt.title(p.field) + ": ") + p.message }));
    });
    draw(marked);
    if (problems.length) setCheck("problems", problems.length + (problems.length === 1 ? " problem to fix before deploying" : " problems to fix before deploying"));
    else setCheck("ok", "Ready to deploy");
  }

  function draw(marked) {
    var wf = { steps: state.draft.steps.map(function (s, i) {
      return { name: s.name || "(unnamed)", order: i + 1, role_name: roleName(s.role_id), sla_weight: s.sla_weight || 0 };
    }), transitions: state.draft.transitions.filter(function (t) { return t.from_step; }) };
    T.drawWorkflowGraph(T.$("wd-graph"), T.$("wd-legend"), wf, marked);
  }

  // --- Loading and commands ----------------------------------------------------------------------------------------
  function updateHeader() {
    var wf = state.wf, editable = !wf || wf.status === "draft";
    T.$("wd-heading").textContent = wf ? wf.name : "New workflow";
    T.$("wd-summary").textContent = wf
      ? "Version " + wf.version + " · " + wf.status + " · revision " + wf.revision + (state.dirty ? " · unsaved changes" : " · saved")
      : state.dirty ? "Not saved yet" : "Design a workflow from nothing, or import an exported one.";
    T.$("wd-save").hidden = !editable;
    T.$("wd-deploy").hidden = !editable;
    T.$("wd-impact").hidden = !editable;
    T.$("wd-export").hidden = !wf;
    T.$("wd-new-version").hidden = !wf || wf.status === "draft";
    T.$("wd-archive").hidden = !wf || wf.status === "archived";
    T.$("wd-readonly").hidden = editable;
    T.$("wd-readonly-status").textContent = wf ? wf.status : "";
    document.querySelectorAll("#wd-form input, #wd-form select, #wd-form textarea, #wd-form button").forEach(function (n) { n.disabled = !editable; });
    if (editable) document.querySelectorAll("#wd-steps button[aria-label='Move up']").forEach(function (b, i) { b.disabled = i === 0; });
    if (editable) document.querySelectorAll("#wd-steps button[aria-label='Move down']").forEach(function (b, i, all) { b.disabled = i === all.length - 1; });
  }

  function useWorkflow(wf) {
    state.wf = wf;
    state.id = wf ? wf.id : null;
    state.draft = wf ? draftOf(wf) : blankDraft();
    state.dirty = false;
    T.$("wd-conflict").hidden = true;
    T.$("wd-impact-card").hidden = true;
    renderForm();
    updateHeader();
    show([]);
    setCheck("idle", wf ? "Checking…" : "Not checked yet");
    if (wf && wf.status === "draft") check();
    else if (wf) setCheck("idle", "Deployed versions are checked at deploy");
  }

  function loadFromHash() {
    var id = Number(location.hash.slice(1));
    if (!id) { useWorkflow(null); return Promise.resolve(); }
    return T.api("/workflows/" + id + "/").then(useWorkflow).catch(function (e) { T.report(e, "Could not load the workflow"); });
  }

  function go(wf) {
    history.replaceState(null, "", "#" + wf.id);
    useWorkflow(wf);
  }

  function save() {
    readTopFields();
    var request = state.id
      ? T.api("/workflows/" + state.id + "/", { method: "PUT", body: Object.assign(body(), { revision: state.wf.revision }) })
      : T.api("/workflows/", { method: "POST", body: body() });
    return request.then(function (wf) {
      go(wf);
      T.toast("Draft saved (revision " + wf.revision + ").", "success");
      return wf;
    }, function (e) {
      if (e.status === 409 && e.body && e.body.revision) {
        T.$("wd-conflict-text").textContent = "Someone else saved this draft meanwhile (it is now at revision " + e.body.revision +
          "). Your changes were not saved. Reload the draft to see theirs, then redo your edit.";
        T.$("wd-conflict").hidden = false;
      } else if (e.status === 400 && e.body) {
        show(problemsOf400(e.body.errors));
        T.report(e, "Not saved");
      } else {
        T.report(e, "Not saved");
      }
      throw e;
    });
  }

  function saved() { return state.dirty || !state.id ? save() : Promise.resolve(state.wf); }

  /* Save first when there are unsaved edits (save() shows why it failed), then run the command. */
  function command(path, done) {
    return saved().then(function (wf) {
      return T.api("/workflows/" + wf.id + "/" + path + "/", { method: "POST" }).then(function (result) {
        go(result);
        T.toast(done, "success");
      }, function (e) {
        if (e.status === 400) check(); // the deploy validation, shown next to its steps and transitions
        T.report(e, "Could not " + path.replace("-", " "));
      });
    }, function () {});
  }

  function impact() {
    var button = T.$("wd-impact");
    button.disabled = true;
    return saved().then(function (wf) {
      return T.api("/workflows/" + wf.id + "/impact/", { method: "POST", body: { limit: Number(T.$("wd-impact-limit").value) } })
        .then(renderImpact, function (e) { T.report(e, "Impact replay failed"); });
    }, function () {}).then(function () { button.disabled = false; });
  }

  function placement(p) {
    if (p.outcome === "unrouted") return el("span", { class: "muted", text: "Unrouted" });
    return el("div", null,
      el("div", null, el("strong", { text: p.workflow_name }), " v" + p.workflow_version),
      el("div", { class: "small", text: p.step + " · " + p.role_name }),
      el("div", { class: "muted small", text: "Due " + T.fmt.date(p.sla_deadline) }));
  }

  function renderImpact(result) {
    T.$("wd-impact-card").hidden = false;
    T.$("wd-impact-summary").textContent = result.tickets + (result.tickets === 1 ? " ticket" : " tickets") + " replayed; " +
      result.changed.length + (result.changed.length === 1 ? " would change." : " would change.");
    var load = T.clear(T.$("wd-impact-load"));
    result.load.forEach(function (row) {
      load.appendChild(el("tr", { class: "wd-load-row" }, el("td", { text: row.role_name }), el("td", { text: String(row.before) }),
        el("td", { text: String(row.after) }), el("td", { class: row.change > 0 ? "wd-gain" : "wd-loss", text: (row.change > 0 ? "+" : "") + row.change })));
    });
    if (!result.load.length) load.appendChild(el("tr", null, el("td", { colspan: "4", class: "muted", text: "No role's load would change." })));
    var changedBody = T.clear(T.$("wd-impact-changed"));
    result.changed.forEach(function (c) {
      changedBody.appendChild(el("tr", { class: "wd-impact-row", dataset: { ticket: c.ticket_id } }, el("td", { class: "mono", text: c.ticket_id }),
        el("td", null, c.changes.map(function (name) { return el("span", { class: "chip", text: T.fmt.title(name) }); })),
        el("td", null, placement(c.before)), el("td", null, placement(c.after))));
    });
    if (!result.changed.length) changedBody.appendChild(el("tr", null, el("td", { colspan: "4", class: "muted", text: "No ticket would change." })));
    T.$("wd-impact-card").scrollIntoView({ block: "start" });
  }

  function exportWorkflow() {
    T.api("/workflows/" + state.id + "/export/").then(function (doc) {
      var link = el("a", { href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" })),
        download: "workflow-" + state.id + "-v" + state.wf.version + ".json" });
      document.body.appendChild(link);
      link.click();
      link.remove();
    }).catch(function (e) { T.report(e, "Could not export"); });
  }

  function importWorkflow(file) {
    file.text().then(function (text) {
      var doc;
      try { doc = JSON.parse(text); } catch (err) { T.toast("That file is not valid JSON.", "error"); return null; }
      return T.api("/workflows/import/", { method: "POST", body: doc }).then(function (wf) {
        go(wf);
        T.toast("Imported as a new draft.", "success");
      });
    }).catch(function (e) { T.report(e, "Could not import"); }).then(function () { T.$("wd-import-file").value = ""; });
  }

  T.onReady(function () {
    // Nothing can be edited before the workflow (or a blank draft) is loaded: typed into earlier, the form had no
    // draft to write to (a script error, the typing lost). updateHeader enables what may be edited once it is.
    document.querySelectorAll("#wd-form input, #wd-form select, #wd-form textarea, #wd-form button").forEach(function (n) { n.disabled = true; });
    Promise.all([T.apiAll("/api/v1/roles/", { system: "TTS" }, 5), T.apiAll("/calendars/", {}, 5)]).then(function (lists) {
      state.roles = lists[0].sort(function (a, b) { return a.name.localeCompare(b.name); });
      state.calendars = lists[1];
      return loadFromHash();
    }).catch(function (e) { T.report(e, "Could not load the designer"); });
    T.$("wd-form").addEventListener("input", function (e) { if (!e.target.closest("tbody")) { readTopFields(); changed(); } });
    T.$("wd-form").addEventListener("submit", function (e) { e.preventDefault(); });
    T.$("wd-add-step").addEventListener("click", addStep);
    T.$("wd-add-transition").addEventListener("click", addTransition);
    T.$("wd-save").addEventListener("click", function () { save().catch(function () {}); });
    T.$("wd-deploy").addEventListener("click", function () { command("deploy", "Deployed: new tickets are routed to it."); });
    T.$("wd-archive").addEventListener("click", function () {
      if (window.confirm("Archive this workflow? No new tickets are routed to it; its running tasks finish on it.")) command("archive", "Archived.");
    });
    T.$("wd-new-version").addEventListener("click", function () { command("new-version", "New draft version created."); });
    T.$("wd-impact").addEventListener("click", impact);
    T.$("wd-export").addEventListener("click", exportWorkflow);
    T.$("wd-import-file").addEventListener("change", function (e) { if (e.target.files[0]) importWorkflow(e.target.files[0]); });
    T.$("wd-reload").addEventListener("click", loadFromHash);
    window.addEventListener("hashchange", loadFromHash);
  });
})();
