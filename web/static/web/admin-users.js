/* Admin · Users: list and search users, create one, open a user to manage their role membership
   (POST /api/v1/users/{id}/roles/, DELETE /api/v1/users/{id}/roles/{role_id}/) and activate/deactivate them. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var state = { roles: [], users: [], selected: null, page: 1, pageSize: 50, searchTimer: null };

  function roleLabel(role) { return role.name + (role.system && role.system !== "TTS" ? " (" + role.system + ")" : ""); }

  function loadRoles() {
    return T.apiAll("/api/v1/roles/", {}, 5).then(function (roles) {
      state.roles = roles.sort(function (a, b) { return (a.system + a.name).localeCompare(b.system + b.name); });
      var filter = T.$("user-role-filter");
      state.roles.forEach(function (r) { filter.appendChild(el("option", { value: String(r.id), text: roleLabel(r) })); });
    });
  }

  function loadUsers() {
    var query = { search: T.$("user-search").value.trim() || null, role: T.$("user-role-filter").value || null,
                  ordering: "username", page: state.page, page_size: state.pageSize };
    var seq = state.listSeq = (state.listSeq || 0) + 1;
    return T.api("/api/v1/users/", { query: query }).then(function (body) {
      if (seq !== state.listSeq) return; // answers to older searches arrive late: ignore them
      state.users = body.results;
      var tbody = T.clear(T.$("users-body"));
      body.results.forEach(function (u) { tbody.appendChild(userRow(u)); });
      if (!body.results.length) tbody.appendChild(el("tr", null, el("td", { colspan: "3", class: "muted", text: "No users match." })));
      T.$("users-summary").textContent = body.count + (body.count === 1 ? " user" : " users");
      T.pager(T.$("users-pager"), body, state.page, state.pageSize, function (page) { state.page = page; loadUsers(); });
    }).catch(function (e) { T.report(e, "Could not load users"); });
  }

  function roleChips(user) {
    var active = (user.roles || []).filter(function (r) { return r.role_is_active !== false; });
    if (!active.length) return el("span", { class: "muted small", text: "No roles" });
    return el("div", { class: "chips" }, active.map(function (r) { return el("span", { class: "chip", text: r.role_name }); }));
  }

  function userRow(u) {
    var tr = el("tr", { class: "clickable" + (state.selected && state.selected.id === u.id ? " is-selected" : ""), dataset: { userId: String(u.id), username: u.username } },
      el("td", { "data-label": "User", class: "cell-main" },
        el("div", { class: "user-cell" },
          el("span", { class: "avatar avatar-small", "aria-hidden": "true", text: u.username[0].toUpperCase() }),
          el("div", null,
            el("button", { type: "button", class: "link-button row-link", text: u.username }),
            el("div", { class: "muted small", text: u.email || [u.first_name, u.last_name].join(" ").trim() || "—" })))),
      el("td", { "data-label": "Roles" }, roleChips(u)),
      el("td", { "data-label": "Status" }, u.is_active ? T.badge("state", "active") : T.badge("state", "inactive"),
        u.is_superuser ? el("span", { class: "badge badge-admin", text: "Superuser" }) : null));
    tr.addEventListener("click", function () { openUser(u.id); });
    return tr;
  }

  function openUser(userId) {
    var seq = state.openSeq = (state.openSeq || 0) + 1;
    return T.api("/api/v1/users/" + userId + "/").then(function (user) {
      if (seq !== state.openSeq) return; // a later click won
      state.selected = user;
      renderPanel();
      document.querySelectorAll("#users-body tr").forEach(function (tr) {
        tr.classList.toggle("is-selected", tr.dataset.userId === String(user.id));
      });
    }).catch(function (e) { T.report(e, "Could not open the user"); });
  }

  function renderPanel() {
    var user = state.selected;
    T.$("user-panel").hidden = false;
    T.$("panel-username").textContent = user.username;
    T.$("panel-email").textContent = user.email || "No email";
    var assigned = {};
    var list = T.clear(T.$("panel-roles"));
    (user.roles || []).forEach(function (r) {
      assigned[r.role_id] = true;
      list.appendChild(el("li", { class: "chip chip-removable" + (r.role_is_active === false ? " is-inactive" : ""), dataset: { roleId: String(r.role_id) } },
        el("span", { text: r.role_name + (r.system !== "TTS" ? " · " + r.system : "") }),
        el("button", { type: "button", class: "chip-remove", "aria-label": "Remove role " + r.role_name, title: "Remove", text: "×",
          onclick: function () { removeRole(r); } })));
    });
    if (!(user.roles || []).length) list.appendChild(el("li", { class: "muted small", text: "This user has no roles yet." }));
    var select = T.$("add-role-select");
    var chosen = select.value; // a re-render (fresh data arriving) keeps what the admin picked
    T.clear(select).appendChild(el("option", { value: "", text: "Choose a role…" }));
    state.roles.filter(function (r) { return r.is_active && !assigned[r.id]; }).forEach(function (r) {
      select.appendChild(el("option", { value: String(r.id), text: roleLabel(r), selected: String(r.id) === chosen }));
    });
    var facts = T.clear(T.$("panel-facts"));
    [["Name", [user.first_name, user.last_name].join(" ").trim() || "—"], ["Joined", T.fmt.date(user.date_joined)],
     ["Last login", T.fmt.date(user.last_login)], ["Status", user.is_active ? "Active" : "Inactive"]].forEach(function (p) {
      facts.appendChild(el("dt", { text: p[0] }));
      facts.appendChild(el("dd", { text: p[1] }));
    });
    var toggle = T.$("panel-toggle-active");
    toggle.textContent = user.is_active ? "Deactivate user" : "Reactivate user";
    toggle.className = "button " + (user.is_active ? "button-danger-ghost" : "button-success");
  }

  function afterChange(message) {
    T.toast(message, "success");
    return Promise.all([openUser(state.selected.id), loadUsers()]);
  }

  function removeRole(r) {
    var user = state.selected;
    T.api("/api/v1/users/" + user.id + "/roles/" + r.role_id + "/", { method: "DELETE" })
      .then(function () { return afterChange("Removed " + user.username + " from " + r.role_name + "."); })
      .catch(function (e) { T.report(e, "Could not remove the role"); });
  }

  T.onReady(function () {
    loadRoles().catch(function (e) { T.report(e, "Could not load roles"); }).then(loadUsers);
    T.$("user-search").addEventListener("input", function () {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(function () { state.page = 1; loadUsers(); }, 250);
    });
    T.$("user-role-filter").addEventListener("change", function () { state.page = 1; loadUsers(); });
    T.$("panel-close").addEventListener("click", function () { T.$("user-panel").hidden = true; state.selected = null; });

    T.$("add-role-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var roleId = T.$("add-role-select").value, user = state.selected;
      if (!roleId) { T.toast("Choose a role to add.", "warning"); return; }
      var role = state.roles.find(function (r) { return String(r.id) === roleId; });
      T.$("add-role-submit").disabled = true;
      T.api("/api/v1/users/" + user.id + "/roles/", { method: "POST", body: { role_id: Number(roleId) } })
        .then(function () { return afterChange("Added " + user.username + " to " + role.name + "."); })
        .catch(function (e) { T.report(e, "Could not add the role"); })
        .finally(function () { T.$("add-role-submit").disabled = false; });
    });

    T.$("panel-toggle-active").addEventListener("click", function () {
      var user = state.selected;
      var request = user.is_active
        ? (window.confirm("Deactivate " + user.username + "? They can no longer sign in or receive tasks.")
          ? T.api("/api/v1/users/" + user.id + "/", { method: "DELETE" }) : null)
        : T.api("/api/v1/users/" + user.id + "/", { method: "PATCH", body: { is_active: true } });
      if (!request) return;
      request.then(function () { return afterChange(user.username + (user.is_active ? " deactivated." : " reactivated.")); })
        .catch(function (e) { T.report(e, "Could not change the account"); });
    });

    var form = T.$("new-user-form");
    T.$("new-user-toggle").addEventListener("click", function () { form.hidden = !form.hidden; if (!form.hidden) form.elements.namedItem("username").focus(); });
    T.$("new-user-cancel").addEventListener("click", function () { form.reset(); form.hidden = true; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      ["username", "email", "first_name", "last_name", "password"].forEach(function (k) { body[k] = form.elements.namedItem(k).value; });
      body.username = body.username.trim();
      T.api("/api/v1/users/", { method: "POST", body: body }).then(function (user) {
        form.reset();
        form.hidden = true;
        T.toast("Created " + user.username + ". Add roles so they receive tasks.", "success");
        return loadUsers().then(function () { return openUser(user.id); });
      }).catch(function (e) { T.report(e, "Could not create the user"); });
    });
  });
})();
