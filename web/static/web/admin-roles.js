/* Admin · Roles: roles per system, create a role with its permissions, open a role to grant or take away permissions
   (one checkbox each, from GET /api/v1/permissions/), manage its members (the same assignment API as the users
   page, seen from the role's side) and deactivate/reactivate it. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var state = { roles: [], users: null, selected: null, systems: [], permissions: [] };
  // What a role created here starts with (tts_common.base.permissions.AGENT_DEFAULTS): its members can work their tasks.
  var AGENT_DEFAULTS = ["task.act", "task.transfer", "task.escalate"];

  /* One checkbox per permission, with what it allows, ticked for the names in ``granted``. */
  function renderPermissions(fieldset, granted) {
    fieldset.querySelectorAll(".permission").forEach(function (node) { node.remove(); });
    state.permissions.forEach(function (p) {
      fieldset.appendChild(el("label", { class: "permission", dataset: { permission: p.name } },
        el("input", { type: "checkbox", name: "permission", value: p.name, checked: granted.indexOf(p.name) >= 0 }),
        el("span", null, el("code", { text: p.name }), el("span", { class: "muted small", text: " " + p.description }))));
    });
  }

  function checked(fieldset) {
    return Array.prototype.map.call(fieldset.querySelectorAll("input[name=permission]:checked"), function (box) { return box.value; });
  }

  function loadRoles() {
    return T.apiAll("/api/v1/roles/", { system: T.$("role-system-filter").value || null }, 5).then(function (roles) {
      state.roles = roles.sort(function (a, b) { return (a.system + a.name).localeCompare(b.system + b.name); });
      var tbody = T.clear(T.$("roles-body"));
      state.roles.forEach(function (r) {
        var tr = el("tr", { class: "clickable" + (state.selected && state.selected.id === r.id ? " is-selected" : ""), dataset: { roleId: String(r.id), roleName: r.name } },
          el("td", { "data-label": "Role", class: "cell-main" }, el("button", { type: "button", class: "link-button row-link", text: r.name }),
            r.permissions && r.permissions.length ? el("div", { class: "muted small", text: r.permissions.join(", ") }) : null),
          el("td", { "data-label": "System" }, el("span", { class: "badge badge-neutral", text: r.system })),
          el("td", { "data-label": "Status" }, T.badge("state", r.is_active ? "active" : "inactive")));
        tr.addEventListener("click", function () { openRole(r); });
        tbody.appendChild(tr);
      });
      T.$("roles-summary").textContent = state.roles.length + (state.roles.length === 1 ? " role" : " roles");
    }).catch(function (e) { T.report(e, "Could not load roles"); });
  }

  function allUsers() {
    if (state.users) return Promise.resolve(state.users);
    return T.apiAll("/api/v1/users/", { is_active: "true", ordering: "username" }, 10).then(function (users) {
      state.users = users;
      return users;
    });
  }

  function openRole(role) {
    state.selected = role;
    document.querySelectorAll("#roles-body tr").forEach(function (tr) { tr.classList.toggle("is-selected", tr.dataset.roleId === String(role.id)); });
    T.$("role-panel").hidden = false;
    T.$("role-panel-name").textContent = role.name;
    T.$("role-panel-meta").textContent = role.system + " · version " + role.version + (role.is_active ? "" : " · inactive");
    var toggle = T.$("role-toggle-active");
    toggle.textContent = role.is_active ? "Deactivate role" : "Reactivate role";
    toggle.className = "button " + (role.is_active ? "button-danger-ghost" : "button-success");
    renderPermissions(T.$("role-permissions"), role.permissions || []);
    T.showFieldErrors(T.$("role-permissions-errors"), null);
    var list = T.clear(T.$("role-members"));
    list.appendChild(el("li", { class: "muted small", text: "Loading members…" }));
    if (T.session.user().can("reports.view")) loadFairness();
    return Promise.all([T.apiAll("/api/v1/users/", { role: role.id, ordering: "username" }, 10), allUsers()]).then(function (results) {
      var members = results[0], everyone = results[1];
      if (state.selected !== role) return;
      T.clear(list);
      var isMember = {};
      members.forEach(function (u) {
        isMember[u.id] = true;
        list.appendChild(el("li", { class: "member", dataset: { userId: String(u.id), username: u.username } },
          el("span", { class: "avatar avatar-small", "aria-hidden": "true", text: u.username[0].toUpperCase() }),
          el("div", { class: "member-name" }, el("strong", { text: u.username }), el("div", { class: "muted small", text: u.email || "" })),
          u.is_active ? null : T.badge("state", "inactive"),
          el("button", { type: "button", class: "button button-small button-danger-ghost", text: "Remove",
            "aria-label": "Remove " + u.username + " from " + role.name, onclick: function () { removeMember(u); } })));
      });
      if (!members.length) list.appendChild(el("li", { class: "muted small", text: "No members. Tasks for this role wait until someone joins." }));
      var select = T.$("add-member-select");
      var chosen = select.value;
      T.clear(select).appendChild(el("option", { value: "", text: "Choose a user…" }));
      everyone.filter(function (u) { return !isMember[u.id]; }).forEach(function (u) {
        select.appendChild(el("option", { value: String(u.id), text: u.username, selected: String(u.id) === chosen }));
      });
    }).catch(function (e) { T.clear(list); T.report(e, "Could not load members"); });
  }

  /* Assignments per member from the workflow engine over the chosen window, and the spread (max - min). */
  function loadFairness() {
    var role = state.selected, days = T.$("fairness-window").value;
    var since = days ? new Date(Date.now() - Number(days) * 86400000).toISOString() : null;
    var list = T.clear(T.$("fairness-users"));
    return T.api("/roles/" + role.id + "/fairness/" + (since ? "?since=" + encodeURIComponent(since) : "")).then(function (body) {
      if (state.selected !== role) return;
      T.$("fairness-spread").textContent = "Spread (most - fewest): " + body.spread;
      body.users.forEach(function (u) {
        list.appendChild(el("li", { class: "member", dataset: { userId: String(u.user_id) } },
          el("div", { class: "member-name" }, el("strong", { text: u.username || "user " + u.user_id })),
          el("span", { class: "badge badge-neutral", text: String(u.assignments) })));
      });
      if (!body.users.length) list.appendChild(el("li", { class: "muted small", text: "No assignments in this window." }));
    }).catch(function (e) { T.$("fairness-spread").textContent = ""; T.report(e, "Could not load fairness"); });
  }

  function removeMember(user) {
    var role = state.selected;
    T.api("/api/v1/users/" + user.id + "/roles/" + role.id + "/", { method: "DELETE" }).then(function () {
      T.toast("Removed " + user.username + " from " + role.name + ".", "success");
      openRole(role);
    }).catch(function (e) { T.report(e, "Could not remove the member"); });
  }

  T.onReady(function () {
    T.api("/api/v1/systems/").then(function (body) {
      state.systems = body.results || body;
      var filter = T.$("role-system-filter"), create = T.$("new-role-system");
      state.systems.forEach(function (s) {
        filter.appendChild(el("option", { value: s.code, text: s.name ? s.code + " — " + s.name : s.code }));
        create.appendChild(el("option", { value: s.code, text: s.code }));
      });
      if (state.systems.some(function (s) { return s.code === "TTS"; })) create.value = "TTS";  // whose roles the permissions are
    }).catch(function () { /* the system filter is optional */ });
    T.api("/api/v1/permissions/").then(function (permissions) {
      state.permissions = permissions;
      renderPermissions(T.$("new-role-permissions"), AGENT_DEFAULTS);
    }).catch(function (e) { T.report(e, "Could not load the permissions"); });
    loadRoles();
    T.$("role-system-filter").addEventListener("change", loadRoles);
    T.$("role-permissions-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var role = state.selected, errors = T.$("role-permissions-errors");
      T.api("/api/v1/roles/" + role.id + "/", { method: "PATCH", body: { permissions: checked(T.$("role-permissions")) } }).then(function (saved) {
        T.showFieldErrors(errors, null);
        T.toast("Saved the permissions of " + saved.name + ".", "success");
        return loadRoles().then(function () { openRole(saved); });
      }).catch(function (e) { T.showFieldErrors(errors, e, "Could not save the permissions"); });
    });
    T.$("fairness-window").addEventListener("change", loadFairness);
    T.$("role-panel-close").addEventListener("click", function () { T.$("role-panel").hidden = true; state.selected = null; });

    T.$("add-member-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var userId = T.$("add-member-select").value, role = state.selected;
      if (!userId) { T.toast("Choose a user to add.", "warning"); return; }
      var user = state.users.find(function (u) { return String(u.id) === userId; });
      T.$("add-member-submit").disabled = true;
      T.api("/api/v1/users/" + userId + "/roles/", { method: "POST", body: { role_id: role.id } }).then(function () {
        T.toast("Added " + user.username + " to " + role.name + ".", "success");
        return openRole(role);
      }).catch(function (e) { T.report(e, "Could not add the member"); }).finally(function () { T.$("add-member-submit").disabled = false; });
    });

    T.$("role-toggle-active").addEventListener("click", function () {
      var role = state.selected;
      var request = role.is_active
        ? (window.confirm("Deactivate the role " + role.name + "? Its members stop receiving its tasks.")
          ? T.api("/api/v1/roles/" + role.id + "/", { method: "DELETE" }) : null)
        : T.api("/api/v1/roles/" + role.id + "/", { method: "PATCH", body: { is_active: true } });
      if (!request) return;
      request.then(function () {
        T.toast(role.name + (role.is_active ? " deactivated." : " reactivated."), "success");
        return loadRoles().then(function () {
          var fresh = state.roles.find(function (r) { return r.id === role.id; });
          if (fresh) openRole(fresh);
        });
      }).catch(function (e) { T.report(e, "Could not change the role"); });
    });

    var form = T.$("new-role-form");
    T.$("new-role-toggle").addEventListener("click", function () { form.hidden = !form.hidden; if (!form.hidden) form.elements.namedItem("name").focus(); });
    T.$("new-role-cancel").addEventListener("click", function () { form.reset(); form.hidden = true; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { system: form.elements.namedItem("system").value, name: form.elements.namedItem("name").value.trim(),
                   permissions: checked(T.$("new-role-permissions")) };
      T.api("/api/v1/roles/", { method: "POST", body: body }).then(function (role) {
        form.reset();
        renderPermissions(T.$("new-role-permissions"), AGENT_DEFAULTS);
        form.hidden = true;
        T.toast("Created the role " + role.name + ".", "success");
        return loadRoles().then(function () { openRole(role); });
      }).catch(function (e) { T.report(e, "Could not create the role"); });
    });
  });
})();
