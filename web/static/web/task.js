/* Task page: ticket data, attachments, step timeline, assignment history, the actions this user may take, and the
   live comment feed (REST history + WebSocket /ws/comments/{ticket_id}/ with catch-up by last_id).
   Comment text is user input: it is only ever set through textContent. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var OPEN = ["pending", "in_progress", "on_hold", "awaiting_external", "pending_external_approval", "awaiting_asset_selection"];
  var SYSTEMS = { ams_reserve: "AMS", bms_budget_check: "BMS" };
  var ACTIONS = {
    approve: { label: "Approve", style: "button-success", hint: "Move the task to its next step." },
    reject: { label: "Reject", style: "button-danger", hint: "End the task as rejected." },
    escalate: { label: "Escalate", style: "button-warning", hint: "Hand the task to the workflow's coordinator." },
    transfer: { label: "Transfer", style: "", hint: "Give the task to another user of this step's role." },
    hold: { label: "Put on hold", style: "", hint: "Pause the SLA clock." },
    resume: { label: "Resume", style: "button-primary", hint: "Restart the SLA clock." },
    external_approve: { label: "Approve by hand", style: "button-success", hint: "Decide in place of the outside system (give its reference if you have one)." },
    external_reject: { label: "Reject by hand", style: "button-danger", hint: "Reject in place of the outside system; the notes are the reason." },
    external_retry: { label: "Retry check", style: "button-primary", hint: "Ask the outside system again now." },
  };
  var taskId = document.body.dataset.taskId;
  var state = { task: null, workflow: null, user: null, comments: {}, maxCommentId: 0, feed: null, roleUsers: null };

  // --- Task ------------------------------------------------------------------------------------------------------------
  function loadTask() {
    return T.api("/tasks/" + encodeURIComponent(taskId) + "/").then(function (task) {
      var first = !state.task;
      state.task = task;
      var wf = state.workflow && state.workflow.id === task.workflow_id ? Promise.resolve(state.workflow)
        : T.api("/workflows/" + task.workflow_id + "/").catch(function () { return null; });
      return wf.then(function (workflow) {
        state.workflow = workflow;
        render();
        if (first) startComments();
      });
    }).catch(function (e) {
      if (state.task) { T.report(e, "Could not refresh the task"); return; }
      var box = T.$("task-error");
      T.clear(box).appendChild(el("h2", { text: e.status === 404 ? "Task not found" : "Could not load this task" }));
      box.appendChild(el("p", { class: "muted", text: e.message }));
      box.appendChild(el("a", { class: "button", href: "/app/queue/", text: "Back to my queue" }));
      box.hidden = false;
      T.$("task-title").textContent = e.status === 404 ? "Task not found" : "Error";
    });
  }

  function fact(label, value, node) {
    if ((value === undefined || value === null || value === "") && !node) return [];
    return [el("dt", { text: label }), el("dd", null, node || String(value))];
  }

  function safeUrl(value) {
    try {
      var url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) { return null; }
  }

  function usernames() {
    var names = {};
    (state.task.assignments || []).forEach(function (a) { names[a.user_id] = a.username; });
    if (state.user) names[state.user.id] = state.user.username;
    return names;
  }

  function render() {
    var task = state.task, data = task.ticket_data || {};
    document.title = task.title + " · TTS";
    T.$("task-title").textContent = task.title;
    var badges = T.clear(T.$("task-badges"));
    badges.appendChild(T.badge("priority", task.priority));
    badges.appendChild(T.badge("status", task.status));
    if (state.workflow) badges.appendChild(el("span", { class: "badge badge-neutral", text: state.workflow.name + " v" + state.workflow.version }));
    T.$("task-subtitle").textContent = "Ticket " + task.external_ticket_id +
      (task.current_step_name ? " · step " + task.current_step_name + (task.role_name ? " (" + task.role_name + ")" : "") : "") +
      " · " + (task.assigned_username ? "assigned to " + task.assigned_username : "unassigned");
    renderSla();

    T.$("ticket-description").textContent = task.description || data.description || "No description.";
    var facts = T.clear(T.$("ticket-facts"));
    [
      fact("Ticket", task.external_ticket_id),
      fact("Category", [data.category, data.sub_category].filter(Boolean).join(" › ")),
      fact("Department", data.department),
      fact("Requester", [data.requester_name, data.requester_email && "<" + data.requester_email + ">"].filter(Boolean).join(" ")),
      fact("HDTS priority", data.priority && T.fmt.title(data.priority)),
      fact("Opened", T.fmt.date(task.ticket_created_at || task.created_at)),
      fact("SLA deadline", task.sla_deadline && T.fmt.date(task.sla_deadline)),
      fact("Next SLA warning", task.sla_next_warning_at && task.sla_next_warning_percent + "% · " + T.fmt.date(task.sla_next_warning_at)),
      fact("Owner", task.owner_username),
      fact("Completed", task.completed_at && T.fmt.date(task.completed_at)),
      fact("Requester rating", task.csat_rating && task.csat_rating + " / 5" + (task.csat_feedback ? " · " + task.csat_feedback : "")),
    ].forEach(function (pair) { pair.forEach(function (n) { facts.appendChild(n); }); });

    var attachments = Array.isArray(data.attachments) ? data.attachments : [];
    var list = T.clear(T.$("attachments"));
    attachments.forEach(function (a) {
      var href = safeUrl(a && a.url);
      var name = (a && (a.filename || a.url)) || "attachment";
      list.appendChild(el("li", null, T.icon("clip", 15),
        href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: name }) : el("span", { text: name })));
    });
    T.$("attachments-wrap").hidden = attachments.length === 0;

    renderExternal();
    renderAsset();
    renderTimeline();
    renderPauses();
    renderAssignments();
    renderDecisions();
    renderActions();
    T.$("task-layout").hidden = false;
  }

  /* The step's outside-system check (AMS/BMS): what was asked, and its answer or why there is none. */
  function renderExternal() {
    var task = state.task, card = T.$("external-card");
    card.hidden = !task.external_action;
    if (!task.external_action) return;
    var system = SYSTEMS[task.external_action] || task.external_action;
    var state_ = task.status === "awaiting_external" ? "Waiting for " + system
      : task.status === "pending_external_approval" ? "No answer from " + system + ": waiting for a retry or an admin"
      : task.status === "awaiting_asset_selection" ? "Waiting for an asset to be chosen"
      : task.external_reason ? "Rejected" : task.external_reference ? "Approved" : "Done";
    var facts = T.clear(T.$("external-facts"));
    [
      fact("System", system),
      fact("State", state_),
      fact("Approved by", task.external_requested_by_username),
      fact("Asked", task.external_requested_at && T.fmt.date(task.external_requested_at)),
      fact("Attempts", task.external_attempt),
      fact("Reference", task.external_reference),
      fact("Reason", task.external_reason),
      fact("Last error", task.external_error),
    ].concat(budgetFacts(task.bms_answer)).forEach(function (pair) { pair.forEach(function (n) { facts.appendChild(n); }); });
  }

  /* BMS's answer, every field it gave (approved or rejected). */
  function budgetFacts(answer) {
    if (!answer) return [];
    var labels = answer.approved ? [["approval_id", "Budget approval"], ["budget_line_id", "Budget line"],
      ["remaining_balance", "Remaining balance"], ["approved_by", "Approved in BMS by"], ["approved_at", "Approved in BMS at"]]
      : [["rejection_code", "Rejection code"], ["reason", "BMS reason"], ["available_amount", "Available amount"]];
    return [fact("Budget", answer.approved ? "Approved by BMS" : "Rejected by BMS")].concat(labels.map(function (pair) {
      var value = answer[pair[0]];
      return fact(pair[1], pair[0] === "approved_at" && value ? T.fmt.date(value) : value);
    }));
  }

  /* The AMS reservation: the asset asked for, AMS's answer, and (awaiting asset selection) the form to choose another. */
  function renderAsset() {
    var task = state.task, data = task.ticket_data || {}, card = T.$("asset-card");
    var reservation = task.ams_reservation, waiting = task.status === "awaiting_asset_selection";
    card.hidden = !(reservation || waiting || (task.external_action === "ams_reserve"));
    if (card.hidden) return;
    var details = (reservation && reservation.asset_details) || {};
    var facts = T.clear(T.$("asset-facts"));
    [
      fact("Asset asked for", task.selected_asset_id || data.asset_id),
      fact("Days", task.selected_duration_days || data.duration_days),
      fact("Reservation", reservation && reservation.reservation_id),
      fact("Status", reservation && reservation.status && T.fmt.title(reservation.status)),
      fact("Reserved asset", reservation && reservation.asset_id),
      fact("Name", details.name),
      fact("Model", details.model),
      fact("Serial", details.serial),
      fact("Valid until", reservation && reservation.valid_until && T.fmt.date(reservation.valid_until)),
    ].forEach(function (pair) { pair.forEach(function (n) { facts.appendChild(n); }); });

    var mayChoose = waiting && state.user && (task.assigned_user === state.user.id || state.user.isAdmin);
    var form = T.$("asset-form");
    form.hidden = !mayChoose;
    if (!mayChoose) return;
    T.$("asset-error").textContent = "AMS: " + (task.external_error || "no asset to reserve") +
      ". Choose " + ((task.asset_alternatives || []).length ? "one of the alternatives or " : "") + "another asset.";
    var list = T.clear(T.$("asset-alternatives"));
    (task.asset_alternatives || []).forEach(function (id, i) {
      list.appendChild(el("label", { class: "asset-choice" },
        el("input", { type: "radio", name: "asset-choice", value: id, checked: i === 0 }), el("span", { text: id })));
    });
    T.$("asset-choice-other").checked = !(task.asset_alternatives || []).length;
    T.$("asset-days-field").hidden = Boolean(task.selected_duration_days || data.duration_days);
  }

  function selectAsset(event) {
    event.preventDefault();
    var chosen = document.querySelector("input[name=asset-choice]:checked");
    var assetId = chosen && chosen.value ? chosen.value : T.$("asset-other").value.trim();
    if (!assetId) { T.toast("Choose an alternative or type an asset id.", "warning"); return; }
    var body = { action: "select_asset", asset_id: assetId, notes: T.$("action-notes").value };
    if (!T.$("asset-days-field").hidden) {
      if (!T.$("asset-days").value) { T.toast("Say for how many days.", "warning"); return; }
      body.duration_days = Number(T.$("asset-days").value);
    }
    var submit = T.$("asset-submit");
    submit.disabled = true;
    T.api("/tasks/" + encodeURIComponent(taskId) + "/actions/", { method: "POST", body: body }).then(function (task) {
      state.task = task;
      T.$("asset-other").value = "";
      render();
      T.toast("Asked AMS to reserve " + assetId + ".", "success");
    }).catch(function (e) {
      T.report(e, "Asset selection failed");
      if (e.status === 409 || e.status === 403) loadTask();
    }).then(function () { submit.disabled = false; });
  }

  function renderSla() {
    var task = state.task;
    var box = T.$("task-sla");
    if (!task.sla_deadline) { box.hidden = true; return; }
    var info = T.slaInfo(task);
    box.hidden = false;
    box.dataset.level = info.level;
    T.$("task-sla-value").textContent = info.text;
    T.$("task-sla-deadline").textContent = "due " + T.fmt.date(task.sla_deadline);
  }

  function renderTimeline() {
    var task = state.task, names = usernames();
    var list = T.clear(T.$("timeline"));
    var history = (task.step_history || []).slice().sort(function (a, b) { return new Date(a.started_at) - new Date(b.started_at); });
    var roleNames = {};
    var steps = state.workflow ? state.workflow.steps.slice().sort(function (a, b) { return a.order - b.order; }) : [];
    steps.forEach(function (s) { roleNames[s.role_id] = s.role_name; });
    history.forEach(function (h) {
      var status = h.status === "active" ? (task.status === "on_hold" ? "on_hold" : "active") : h.status;
      list.appendChild(el("li", { class: "timeline-item timeline-" + status },
        el("span", { class: "timeline-dot", "aria-hidden": "true" }),
        el("div", { class: "timeline-body" },
          el("div", { class: "timeline-head" }, el("strong", { text: h.step_name }), T.badge("step", status)),
          el("div", { class: "muted small", text: (roleNames[h.role_id] || "Role " + h.role_id) + " · started " + T.fmt.date(h.started_at) +
            (h.ended_at ? " · ended " + T.fmt.date(h.ended_at) : " · due " + T.fmt.date(h.due_at)) }),
          h.acted_by ? el("div", { class: "small", text: T.fmt.title(h.status) + " by " + (names[h.acted_by] || "user " + h.acted_by) }) : null,
          h.notes ? el("blockquote", { class: "timeline-notes", text: h.notes }) : null)));
    });
    // The steps still ahead, from the workflow definition.
    if (OPEN.indexOf(task.status) >= 0 && steps.length) {
      var current = steps.find(function (s) { return s.id === task.current_step; });
      steps.filter(function (s) { return current && s.order > current.order; }).forEach(function (s) {
        list.appendChild(el("li", { class: "timeline-item timeline-upcoming" },
          el("span", { class: "timeline-dot", "aria-hidden": "true" }),
          el("div", { class: "timeline-body" },
            el("div", { class: "timeline-head" }, el("strong", { text: s.name }), T.badge("step", "upcoming")),
            el("div", { class: "muted small", text: s.role_name }))));
      });
    }
    if (!list.children.length) list.appendChild(el("li", { class: "muted small", text: "No steps yet." }));
  }

  /* Every time the SLA clock stood still (the deadline excludes these), newest first. */
  function renderPauses() {
    var names = usernames();
    var who = function (id) { return id ? " by " + (names[id] || "user " + id) : ""; };
    var list = T.clear(T.$("pauses"));
    var rows = (state.task.pauses || []).slice().reverse();
    rows.forEach(function (p) {
      list.appendChild(el("li", { class: "history-item" + (p.ended_at ? "" : " is-current") },
        el("div", null,
          el("div", null, el("strong", { text: T.fmt.title(p.reason) }), p.ended_at ? null : el("span", { class: "muted", text: " · clock stopped" })),
          el("div", { class: "muted small", text: "from " + T.fmt.date(p.started_at) + who(p.started_by) +
            (p.ended_at ? " · until " + T.fmt.date(p.ended_at) + who(p.ended_by) : "") }),
          p.notes ? el("blockquote", { class: "timeline-notes", text: p.notes }) : null)));
    });
    if (!rows.length) list.appendChild(el("li", { class: "muted small", text: "The SLA clock has not been paused." }));
  }

  function renderAssignments() {
    var names = usernames();
    var list = T.clear(T.$("assignments"));
    var rows = (state.task.assignments || []).slice().sort(function (a, b) { return new Date(b.assigned_at) - new Date(a.assigned_at); });
    rows.forEach(function (a) {
      list.appendChild(el("li", { class: "history-item" + (a.ended_at ? "" : " is-current") },
        el("span", { class: "avatar avatar-small", "aria-hidden": "true", text: (a.username || "?")[0].toUpperCase() }),
        el("div", null,
          el("div", null, el("strong", { text: a.username }), " · ", el("span", { class: "muted", text: a.role_name })),
          el("div", { class: "muted small", text: T.fmt.title(a.reason || "assigned") + " · " + T.fmt.date(a.assigned_at) +
            (a.assigned_by ? " by " + (names[a.assigned_by] || "user " + a.assigned_by) : "") +
            (a.ended_at ? " · until " + T.fmt.date(a.ended_at) : " · current") }))));
    });
    if (!rows.length) list.appendChild(el("li", { class: "muted small", text: "Not assigned yet: waiting for a user in the step's role." }));
  }

  /* Each stored assignment decision: who could take the task, what each filter removed, the rule, the choice. */
  var OUTCOMES = {
    assigned: "Picked", held: "Held: nobody eligible", escalated_to_lead: "Nobody eligible: the role's lead",
    least_loaded_away: "Nobody eligible: least-loaded away user", direct: "Named directly"
  };

  function renderDecisions() {
    var names = usernames();
    var who = function (id) { return names[id] || "user " + id; };
    var list = T.clear(T.$("decisions"));
    var rows = (state.task.decisions || []).slice().reverse();
    rows.forEach(function (d) {
      var removed = (d.filters || []).filter(function (f) { return f.removed.length; }).map(function (f) {
        return f.filter + ": " + f.removed.map(who).join(", ");
      });
      var rule = d.strategy === "direct" ? T.fmt.title(d.reason) : T.fmt.title(d.strategy) + ", if none: " + T.fmt.title(d.policy);
      list.appendChild(el("li", { class: "history-item decision", dataset: { outcome: d.outcome } },
        el("div", null,
          el("div", null, el("strong", { text: d.user_id ? who(d.user_id) : "Nobody" }), " · ",
            el("span", { class: "muted", text: OUTCOMES[d.outcome] || d.outcome })),
          el("div", { class: "muted small", text: rule + " · " + d.candidates.length + " candidate(s)" +
            (d.sequence !== null ? " · pick #" + d.sequence : "") + " · " + T.fmt.date(d.decided_at) }),
          el("div", { class: "muted small", text: removed.length ? "Removed: " + removed.join("; ") : "No one filtered out" }),
          d.strategy === "direct" ? null : el("div", { class: "muted small",
            text: "Pointer " + (d.cursor_before === null ? "start" : who(d.cursor_before)) + " → " +
              (d.cursor_after === null ? "start" : who(d.cursor_after)) }))));
    });
    if (!rows.length) list.appendChild(el("li", { class: "muted small", text: "No assignment decision recorded." }));
  }

  // The permission each action takes (workflow_api.services.actions.ACTION_PERMISSIONS, which the API enforces).
  var ACTION_PERMISSIONS = { approve: "task.act", reject: "task.act", hold: "task.act", resume: "task.act",
    transfer: "task.transfer", escalate: "task.escalate", select_asset: "task.act", external_approve: "admin", external_reject: "admin", external_retry: "admin" };

  /* What this user may do now (the API is the judge: a refused action shows its message). */
  function allowedActions() {
    var task = state.task, user = state.user;
    if (OPEN.indexOf(task.status) < 0) return [];
    if (task.status === "awaiting_external" || task.status === "awaiting_asset_selection") return [];
    var possible;
    if (task.status === "pending_external_approval") possible = ["external_approve", "external_reject", "external_retry"];
    else if (task.assigned_user !== user.id && !user.isAdmin) possible = [];
    else if (task.status === "on_hold") possible = ["resume"];
    else possible = ["approve", "reject", "escalate", "transfer", "hold"];
    return possible.filter(function (name) { return user.can(ACTION_PERMISSIONS[name]); });
  }

  function renderActions() {
    var task = state.task;
    var actions = allowedActions();
    var form = T.$("action-form"), buttons = T.clear(T.$("action-buttons"));
    var hint = T.$("actions-hint");
    form.hidden = actions.length === 0;
    var system = SYSTEMS[task.external_action] || "the outside system";
    if (OPEN.indexOf(task.status) < 0) hint.textContent = "This task is " + T.fmt.title(task.status).toLowerCase() + "; no further actions.";
    else if (task.status === "awaiting_external") hint.textContent = "Approved; waiting for " + system + " to decide.";
    else if (task.status === "awaiting_asset_selection") hint.textContent = "Approved; the asset to reserve must be chosen " +
      "(below, by the assignee" + (task.assigned_username ? " " + task.assigned_username : "") + " or an administrator).";
    else if (task.status === "pending_external_approval") hint.textContent = system + " could not decide. " +
      (actions.length ? "It is retried automatically; you can also decide by hand." : "It is retried automatically, or an administrator decides.");
    else if (!actions.length) hint.textContent = "Only the assignee" + (task.assigned_username ? " (" + task.assigned_username + ")" : "") + ", with a role that permits it, or an administrator can act on this task.";
    else hint.textContent = task.status === "on_hold" ? "The SLA clock is paused." : "You are working step “" + (task.current_step_name || "—") + "”.";
    actions.forEach(function (name) {
      var spec = ACTIONS[name];
      buttons.appendChild(el("button", { type: "button", class: "button " + spec.style, title: spec.hint,
        dataset: { action: name }, text: spec.label, onclick: function () { act(name); } }));
    });
    T.$("transfer-field").hidden = true;
    T.$("reference-field").hidden = actions.indexOf("external_approve") < 0;
  }

  function loadTransferTargets() {
    var select = T.$("transfer-user"), input = T.$("transfer-user-id");
    if (!state.user.can("users.manage")) { select.hidden = true; input.hidden = false; return Promise.resolve(); }
    select.hidden = false;
    input.hidden = true;
    T.clear(select).appendChild(el("option", { value: "", text: "Loading users…" }));
    return T.apiAll("/api/v1/users/", { role: state.task.role_id, is_active: "true" }, 2).then(function (users) {
      T.clear(select).appendChild(el("option", { value: "", text: "Choose a user of " + (state.task.role_name || "this role") }));
      users.filter(function (u) { return u.id !== state.task.assigned_user; }).forEach(function (u) {
        select.appendChild(el("option", { value: String(u.id), text: u.username + (u.email ? " — " + u.email : "") }));
      });
    }).catch(function (e) { T.clear(select); select.hidden = true; input.hidden = false; T.report(e, "Could not list users"); });
  }

  function act(name) {
    var body = { action: name, notes: T.$("action-notes").value };
    if (name === "transfer") {
      var field = T.$("transfer-field");
      if (field.hidden) {
        field.hidden = false;
        loadTransferTargets();
        T.toast("Choose who gets the task, then press Transfer again.", "info");
        return;
      }
      var target = !T.$("transfer-user").hidden ? T.$("transfer-user").value : T.$("transfer-user-id").value;
      if (!target) { T.toast("Choose the user to transfer the task to.", "warning"); return; }
      body.to_user = Number(target);
    }
    if (name === "external_approve" && T.$("action-reference").value.trim()) body.reference = T.$("action-reference").value.trim();
    if ((name === "reject" || name === "external_reject") && !window.confirm("Reject this task? This ends its workflow.")) return;
    var buttons = document.querySelectorAll("#action-buttons button");
    buttons.forEach(function (b) { b.disabled = true; });
    T.api("/tasks/" + encodeURIComponent(taskId) + "/actions/", { method: "POST", body: body }).then(function (task) {
      state.task = task;
      T.$("action-notes").value = "";
      T.$("action-reference").value = "";
      render();
      T.toast(ACTIONS[name].label + " done. " + (task.status === "completed" ? "The task is completed." :
        task.status === "awaiting_external" ? "Waiting for " + (SYSTEMS[task.external_action] || "the outside system") + " to decide." :
        task.current_step_name && task.assigned_user !== state.user.id ? "It moved on to " + (task.assigned_username || "the next step") + "." : ""), "success");
    }).catch(function (e) {
      T.report(e, ACTIONS[name].label + " failed");
      buttons.forEach(function (b) { b.disabled = false; });
      if (e.status === 409 || e.status === 403) loadTask();
    });
  }

  // --- Comments ----------------------------------------------------------------------------------------------------------
  function commentNode(c) {
    var mine = state.user && c.author_id === state.user.id;
    var text = c.is_deleted || c.text === null ? el("p", { class: "comment-text is-deleted", text: "This comment was deleted." })
      : el("p", { class: "comment-text", text: c.text });
    return el("li", { class: "comment" + (mine ? " is-mine" : ""), id: "comment-" + c.id, dataset: { commentId: String(c.id) } },
      el("span", { class: "avatar avatar-small", "aria-hidden": "true", text: (c.author_username || "?")[0].toUpperCase() }),
      el("div", { class: "comment-bubble" },
        el("div", { class: "comment-head" },
          el("strong", { class: "comment-author", text: c.author_username || "user " + c.author_id }),
          el("time", { class: "muted small", datetime: c.created_at, title: T.fmt.date(c.created_at), text: T.fmt.ago(c.created_at) }),
          c.edited_at && !c.is_deleted ? el("span", { class: "muted small", text: "(edited)" }) : null),
        text));
  }

  function upsertComment(c, highlight) {
    var list = T.$("comments");
    var existing = document.getElementById("comment-" + c.id);
    var node = commentNode(c);
    if (highlight) node.classList.add("is-new");
    state.comments[c.id] = c;
    if (existing) existing.replaceWith(node);
    else {
      // Keep id order even if events arrive out of order.
      var after = null;
      list.querySelectorAll(".comment").forEach(function (n) { if (Number(n.dataset.commentId) > c.id && !after) after = n; });
      list.insertBefore(node, after);
      if (highlight) node.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
    state.maxCommentId = Math.max(state.maxCommentId, c.id);
    T.$("comments-empty").hidden = list.children.length > 0;
  }

  function setLive(stateName) {
    var dot = T.$("comments-live");
    dot.dataset.state = stateName;
    dot.title = { open: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", refused: "Live updates unavailable" }[stateName] || stateName;
  }

  function startComments() {
    var ticketId = state.task.external_ticket_id;
    T.apiAll("/api/comments/", { ticket_id: ticketId }, 10).then(function (comments) {
      comments.forEach(function (c) { upsertComment(c, false); });
      T.$("comments-empty").hidden = comments.length > 0;
    }).catch(function (e) {
      T.$("comments-empty").textContent = e.status === 404 ? "You can't see this ticket's comments." : "Could not load comments: " + e.message;
    }).finally(function () {
      // Subscribe after the history: last_id makes the server replay anything written in between.
      state.feed = T.socket("/ws/comments/" + encodeURIComponent(ticketId) + "/", {
        params: function () { return { last_id: String(state.maxCommentId) }; },
        onState: setLive,
        onMessage: function (event) {
          if (event.type !== "comment_update" || !event.comment) return;
          upsertComment(event.comment, event.action === "create" && !state.comments[event.comment.id]);
        },
      });
    });

    T.$("comment-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var box = T.$("comment-text"), submit = T.$("comment-submit");
      var text = box.value;
      if (!text.trim()) { box.focus(); return; }
      submit.disabled = true;
      T.api("/api/comments/", { method: "POST", body: { ticket_id: ticketId, text: text } }).then(function (comment) {
        box.value = "";
        upsertComment(comment, true);
      }).catch(function (e) { T.report(e, "Comment not posted"); }).finally(function () { submit.disabled = false; box.focus(); });
    });
    T.$("comment-text").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) T.$("comment-form").requestSubmit();
    });
  }

  T.onReady(function (user) {
    state.user = user;
    T.$("asset-form").addEventListener("submit", selectAsset);
    T.$("asset-other").addEventListener("input", function () { T.$("asset-choice-other").checked = true; });
    loadTask();
    setInterval(function () { if (state.task) renderSla(); }, 1000);
    // Someone else acted on this task (transfer, escalation...): show the new state.
    window.addEventListener("tts:notification", function (event) {
      if (event.detail && event.detail.related_task_id === taskId) loadTask();
    });
  });
})();
