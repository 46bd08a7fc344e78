/* TTS web UI core: session (JWT in sessionStorage, refreshed before expiry), API client, DOM helpers, WebSockets,
   the notifications bell and the page shell. Page scripts use window.TTS and register with TTS.onReady(fn).

   Safety rule for every script of this UI: user-provided text only ever reaches the DOM through textContent
   (TTS.el builds elements; strings become text nodes). Nothing assigns innerHTML. */
(function () {
  "use strict";

  var SESSION_KEY = "tts.session";
  var LOGIN_URL = "/app/login/";
  var REFRESH_MARGIN_S = 60; // refresh the access token this long before it expires

  // --- DOM helpers -------------------------------------------------------------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key === "dataset") Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
        else if (key.slice(0, 2) === "on" && typeof value === "function") node.addEventListener(key.slice(2), value);
        else if (value === true) node.setAttribute(key, "");
        else node.setAttribute(key, String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = String(attrs[key]);
      else node.setAttribute(key, String(attrs[key]));
    });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }

  /* Stroke icons (24x24 paths in the style of Feather icons); no icon font, no emoji font needed. */
  var ICONS = {
    check: "M5 12l5 5L20 7",
    plus: "M12 5v14M5 12h14",
    "arrow-in": "M15 3h4a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2h-4M10 17l5-5-5-5M15 12H3",
    "arrow-out": "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9",
    "arrow-up": "M12 19V5M5 12l7-7 7 7",
    clock: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18zM12 7v5l3 3",
    alert: "M12 3L2 20h20L12 3zM12 10v4M12 17h.01",
    chat: "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z",
    help: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18zM9.1 9a3 3 0 0 1 5.8 1c0 2-3 3-3 3M12 17h.01",
    clip: "M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48",
    bell: "M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9M13.73 21a2 2 0 0 1-3.46 0",
  };
  function icon(name, size) {
    return svg("svg", { viewBox: "0 0 24 24", width: size || 16, height: size || 16, class: "icon", "aria-hidden": "true" },
      svg("path", { d: ICONS[name] || ICONS.help, fill: "none", stroke: "currentColor", "stroke-width": 2,
                    "stroke-linecap": "round", "stroke-linejoin": "round" }));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function $(id) { return document.getElementById(id); }

  // --- Formatting ----------------------------------------------------------------------------------------------------
  var dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function formatDate(iso) { return iso ? dateFmt.format(new Date(iso)) : "—"; }

  function formatDuration(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    if (m) return m + "m " + String(sec).padStart(2, "0") + "s";
    return sec + "s";
  }

  function timeAgo(iso) {
    if (!iso) return "";
    var seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    if (seconds < 45) return "just now";
    return formatDuration(seconds).split(" ")[0] + " ago";
  }

  function titleCase(value) {
    return String(value || "").replace(/_/g, " ").replace(/^\w/, function (c) { return c.toUpperCase(); });
  }

  /* SLA urgency of a task right now: breached / critical (<10% or <1h left) / warning (server flag or <25%) / ok. */
  function slaInfo(task, now) {
    if (!task.sla_deadline) return { level: "none", text: "No SLA" };
    var done = task.status === "completed" || task.status === "rejected" || task.status === "cancelled";
    var deadline = new Date(task.sla_deadline).getTime();
    var reference = done && task.completed_at ? new Date(task.completed_at).getTime() : (now || Date.now());
    var left = (deadline - reference) / 1000;
    if (done) return { level: left < 0 ? "breached" : "done", text: left < 0 ? "Closed late" : "Met", left: left };
    if (task.status === "on_hold") return { level: "paused", text: "Paused", left: left };
    if (left < 0 || task.sla_state === "breached") return { level: "breached", text: "Overdue " + formatDuration(left), left: left };
    var start = new Date(task.created_at).getTime();
    var total = (deadline - start) / 1000;
    var fraction = total > 0 ? left / total : 1;
    var level = "ok";
    if (fraction < 0.1 || left < 3600) level = "critical";
    else if (fraction < 0.25 || task.sla_state === "warning") level = "warning";
    return { level: level, text: formatDuration(left) + " left", left: left };
  }

  function badge(kind, value, label) {
    return el("span", { class: "badge badge-" + kind + "-" + value, text: label || titleCase(value) });
  }

  // --- Toasts --------------------------------------------------------------------------------------------------------
  function toast(message, kind, options) {
    var box = $("toasts");
    if (!box) return;
    options = options || {};
    var item = el("div", { class: "toast toast-" + (kind || "info") }, el("span", { class: "toast-text", text: message }));
    if (options.href) item.appendChild(el("a", { class: "toast-link", href: options.href, text: options.linkText || "Open" }));
    item.appendChild(el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", text: "×",
      onclick: function () { item.remove(); } }));
    box.appendChild(item);
    setTimeout(function () { item.classList.add("toast-leaving"); setTimeout(function () { item.remove(); }, 300); },
      options.duration || (kind === "error" ? 8000 : 5000));
  }

  // --- Session -------------------------------------------------------------------------------------------------------
  function decodeJwt(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) part += "=";
      var bytes = Uint8Array.from(atob(part), function (c) { return c.charCodeAt(0); });
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  var session = {
    get: function () {
      try { return JSON.parse(sessionStorage.getItem(SESSION_KEY)); } catch (e) { return null; }
    },
    save: function (pair) {
      var claims = decodeJwt(pair.access_token);
      if (!claims) throw new Error("The server returned an unreadable token.");
      var data = { access: pair.access_token, refresh: pair.refresh_token, claims: claims,
                   exp: claims.exp || (Date.now() / 1000 + (pair.expires_in || 300)) };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(data));
      scheduleRefresh();
      return data;
    },
    clear: function () { sessionStorage.removeItem(SESSION_KEY); },
    user: function () {
      var s = session.get();
      if (!s) return null;
      var c = s.claims || {};
      var permissions = c.permissions || [];
      // The token's permissions claim (admins' lists every permission); the APIs check the same claim.
      return { id: Number(c.user_id), username: c.username || "", isAdmin: !!c.is_admin, roles: c.roles || {},
               permissions: permissions, can: function (name) { return !!c.is_admin || permissions.indexOf(name) >= 0; } };
    },
  };

  function goToLogin(reason) {
    session.clear();
    var here = location.pathname + location.search;
    var params = new URLSearchParams();
    if (reason) params.set("reason", reason);
    if (here.indexOf(LOGIN_URL) !== 0 && here.indexOf("/app/") === 0) params.set("next", here);
    var query = params.toString();
    location.replace(LOGIN_URL + (query ? "?" + query : ""));
    return new Promise(function () {}); // never settles: the page is going away
  }

  var refreshing = null;
  /* Exchange the refresh token for a new pair (one request at a time); false if the session is over. */
  function refreshTokens() {
    if (refreshing) return refreshing;
    var s = session.get();
    if (!s || !s.refresh) return Promise.resolve(false);
    refreshing = fetch("/token/refresh/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh_token: s.refresh }),
    }).then(function (res) {
      if (!res.ok) return res.status === 401 || res.status === 400 ? false : Promise.reject(new Error("refresh failed"));
      return res.json().then(function (pair) {
        if (!pair.refresh_token) pair.refresh_token = s.refresh;
        session.save(pair);
        return true;
      });
    }).catch(function () {
      // Network trouble: keep the session; the next call retries.
      return !!session.get() && session.get().exp > Date.now() / 1000;
    }).finally(function () { refreshing = null; });
    return refreshing;
  }

  var refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    var s = session.get();
    if (!s) return;
    var lifetime = s.exp - (s.claims.iat || s.exp - 300);
    var margin = Math.min(REFRESH_MARGIN_S, lifetime / 4);
    var delay = Math.max(1, s.exp - margin - Date.now() / 1000) * 1000;
    refreshTimer = setTimeout(function () {
      refreshTokens().then(function (ok) { if (!ok) goToLogin("expired"); });
    }, Math.min(delay, 2147483000));
  }

  /* A valid access token, refreshed first if it is about to expire. */
  function accessToken() {
    var s = session.get();
    if (!s) return goToLogin("signin");
    if (s.exp - Date.now() / 1000 > 10) return Promise.resolve(s.access);
    return refreshTokens().then(function (ok) { return ok ? session.get().access : goToLogin("expired"); });
  }

  // --- API client ----------------------------------------------------------------------------------------------------
  function ApiError(status, message, body) {
    this.name = "ApiError";
    this.status = status;
    this.message = message;
    this.body = body;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function errorMessage(status, body) {
    var detail = body && typeof body.detail === "string" ? body.detail : "";
    if (status === 400 && body && body.errors) {
      var parts = [];
      Object.keys(body.errors).forEach(function (field) {
        var messages = [].concat(body.errors[field]).map(function (m) { return typeof m === "string" ? m : JSON.stringify(m); });
        parts.push((field === "non_field_errors" ? "" : titleCase(field) + ": ") + messages.join(" "));
      });
      if (parts.length) return parts.join(" · ");
    }
    if (status === 403) return detail || "You don't have permission to do that.";
    if (status === 404) return detail || "Not found — it may have been removed or is not visible to you.";
    if (status === 409) return detail || "That conflicts with the current state; reload and try again.";
    if (status === 429) return "Too many requests; wait a moment and try again.";
    if (status >= 500) return "The server could not complete the request (HTTP " + status + "). Please try again shortly.";
    return detail || "The request failed (HTTP " + status + ").";
  }

  function api(path, options) {
    options = options || {};
    var url = path;
    if (options.query) {
      var params = new URLSearchParams();
      Object.keys(options.query).forEach(function (key) {
        var value = options.query[key];
        if (value === null || value === undefined || value === "") return;
        [].concat(value).forEach(function (v) { params.append(key, v); });
      });
      var qs = params.toString();
      if (qs) url += (url.indexOf("?") >= 0 ? "&" : "?") + qs;
    }
    function send(token) {
      var headers = { Accept: options.accept || "application/json", Authorization: "Bearer " + token };
      var init = { method: options.method || "GET", headers: headers };
      if (options.body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(options.body);
      }
      return fetch(url, init).catch(function () {
        throw new ApiError(0, "Can't reach the server. Check your connection and try again.");
      });
    }
    return accessToken().then(send).then(function (res) {
      if (res.status !== 401) return res;
      // The token was refused (revoked user, changed key, clock skew): one refresh, then give up.
      return refreshTokens().then(function (ok) {
        return ok ? send(session.get().access) : goToLogin("expired");
      });
    }).then(function (res) {
      if (res.status === 401) return goToLogin("expired");
      if (res.status === 204) return null;
      var isJson = (res.headers.get("Content-Type") || "").indexOf("json") >= 0;
      // options.accept (e.g. text/csv): a successful answer in that type is returned as text.
      var parse = isJson ? res.json().catch(function () { return null; })
        : Promise.resolve(res.ok && options.accept ? res.text() : null);
      return parse.then(function (body) {
        if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, body), body);
        return body;
      });
    });
  }

  /* Every page of a paginated list (bounded by maxPages). */
  function apiAll(path, query, maxPages) {
    var results = [];
    var q = Object.assign({ page_size: 500 }, query || {});
    function page(n) {
      return api(path, { query: Object.assign({}, q, { page: n }) }).then(function (body) {
        results = results.concat(body.results || []);
        if (body.next && n < (maxPages || 20)) return page(n + 1);
        return results;
      });
    }
    return page(1);
  }

  /* Show an API failure plainly (never a stack trace). */
  function report(error, prefix) {
    var message = error && error.message ? error.message : "Something went wrong.";
    if (!(error instanceof ApiError)) console.error(error);
    toast((prefix ? prefix + ": " : "") + message, "error");
  }

  // --- WebSockets ----------------------------------------------------------------------------------------------------
  /* A self-healing socket: reconnects with backoff, refreshes the token on 4401, stops on 4400/4404.
     options: {params: () => object, onMessage(data), onState(state, code)} */
  function socket(path, options) {
    var ws = null, stopped = false, attempts = 0, timer = null;
    function state(name, code) { if (options.onState) options.onState(name, code); }
    function connect() {
      if (stopped) return;
      state("connecting");
      accessToken().then(function (token) {
        if (stopped) return;
        var params = new URLSearchParams(Object.assign({}, options.params ? options.params() : {}, { token: token }));
        var scheme = location.protocol === "https:" ? "wss://" : "ws://";
        ws = new WebSocket(scheme + location.host + path + "?" + params.toString());
        ws.onopen = function () { attempts = 0; state("open"); };
        ws.onmessage = function (event) {
          var data;
          try { data = JSON.parse(event.data); } catch (e) { return; }
          options.onMessage(data);
        };
        ws.onclose = function (event) {
          ws = null;
          if (stopped) return;
          if (event.code === 4400 || event.code === 4404) { state("refused", event.code); return; }
          var retry = function () {
            attempts += 1;
            state("reconnecting", event.code);
            timer = setTimeout(connect, Math.min(30000, 500 * Math.pow(2, Math.min(attempts, 6))) * (0.75 + Math.random() / 2));
          };
          if (event.code === 4401) {
            refreshTokens().then(function (ok) { if (ok) retry(); else goToLogin("expired"); });
          } else retry();
        };
      });
    }
    connect();
    return {
      close: function () { stopped = true; clearTimeout(timer); if (ws) ws.close(1000); },
      reconnectNow: function () { if (ws) ws.close(4000); },
    };
  }

  // --- Notifications bell ----------------------------------------------------------------------------------------------
  var bell = {
    count: 0,
    setCount: function (n) {
      bell.count = Math.max(0, Number(n) || 0);
      var badgeEl = $("bell-count");
      if (!badgeEl) return;
      badgeEl.textContent = bell.count > 99 ? "99+" : String(bell.count);
      badgeEl.dataset.count = String(bell.count);
      badgeEl.hidden = bell.count === 0;
      $("bell").setAttribute("aria-label", "Notifications, " + bell.count + " unread");
      document.title = document.title.replace(/^\(\d+\+?\) /, "");
      if (bell.count) document.title = "(" + (bell.count > 99 ? "99+" : bell.count) + ") " + document.title;
    },
    refreshCount: function () {
      return api("/api/v2/notifications/inapp/unread-count/").then(function (body) { bell.setCount(body.unread_count); })
        .catch(function () { /* the bell is secondary: stay quiet */ });
    },
    renderList: function () {
      var list = $("bell-list");
      clear(list).appendChild(el("li", { class: "bell-empty muted", text: "Loading…" }));
      api("/api/v2/notifications/inapp/", { query: { page_size: 8 } }).then(function (body) {
        clear(list);
        if (!body.results.length) list.appendChild(el("li", { class: "bell-empty muted", text: "No notifications yet." }));
        body.results.forEach(function (n) { list.appendChild(notificationItem(n, true)); });
      }).catch(function (e) { clear(list).appendChild(el("li", { class: "bell-empty muted", text: e.message })); });
    },
    init: function () {
      var button = $("bell"), panel = $("bell-panel");
      if (!button) return;
      button.addEventListener("click", function (event) {
        event.stopPropagation();
        var open = panel.hidden;
        panel.hidden = !open;
        button.setAttribute("aria-expanded", String(open));
        if (open) bell.renderList();
      });
      document.addEventListener("click", function (event) {
        if (!panel.hidden && !panel.contains(event.target)) { panel.hidden = true; button.setAttribute("aria-expanded", "false"); }
      });
      document.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && !panel.hidden) { panel.hidden = true; button.focus(); }
      });
      $("bell-read-all").addEventListener("click", function () {
        api("/api/v2/notifications/inapp/read-all/", { method: "POST" }).then(function (body) {
          bell.setCount(body.unread_count);
          bell.renderList();
          window.dispatchEvent(new CustomEvent("tts:notifications-read"));
        }).catch(report);
      });
      bell.refreshCount();
      socket("/ws/notifications/", {
        onMessage: function (data) {
          if (data.type !== "notification") return;
          bell.setCount(data.unread_count);
          var n = data.notification || {};
          toast(n.subject || "New notification", "info", n.related_task_id ? { href: taskUrl(n.related_task_id), linkText: "View task" } : {});
          if (!panel.hidden) bell.renderList();
          window.dispatchEvent(new CustomEvent("tts:notification", { detail: n }));
        },
        onState: function (s) { if (s === "open") bell.refreshCount(); }, // catch up on what arrived while away
      });
    },
  };

  // --- Availability: the caller's own status in the header -----------------------------------------------------------
  /* datetime-local inputs hold the browser's local wall-clock time; the API speaks ISO instants. */
  function localInputValue(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    function pad(n) { return String(n).padStart(2, "0"); }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function isoFromLocalInput(value) { return value ? new Date(value).toISOString() : null; }

  /* What an availability record means at `now`, as the engine decides (services/assignment.is_away): an active user
     inside their out-of-office window is away. */
  function effectiveStatus(a, now) {
    if (a.status !== "active") return a.status;
    var t = now || Date.now();
    var from = a.away_from ? new Date(a.away_from).getTime() : null;
    var until = a.away_until ? new Date(a.away_until).getTime() : null;
    var inWindow = (from !== null || until !== null) && (from === null || from <= t) && (until === null || t < until);
    return inWindow ? "out_of_office" : "active";
  }
  var STATUS_LABELS = { active: "Active", away: "Away", unavailable: "Unavailable", out_of_office: "Out of office" };

  /* Field errors of a 400 as "Field: message" lines, shown in `box` (text only); other errors go to a toast. */
  function showFieldErrors(box, error, prefix) {
    clear(box);
    box.hidden = true;
    if (!error) return;
    var errors = error.status === 400 && error.body && error.body.errors;
    if (!errors) { report(error, prefix); return; }
    Object.keys(errors).forEach(function (field) {
      var label = field === "non_field_errors" ? "" : titleCase(field) + ": ";
      box.appendChild(el("div", { dataset: { field: field }, text: label + [].concat(errors[field]).join(" ") }));
    });
    box.hidden = false;
  }

  var presence = {
    current: null,
    chosen: "active",
    render: function () {
      var a = presence.current, shown = effectiveStatus(a);
      $("presence-dot").dataset.status = shown;
      $("presence-label").textContent = STATUS_LABELS[shown];
      $("presence-button").dataset.status = shown;
      var note = [a.reason, a.away_until ? "until " + formatDate(a.away_until) : ""].filter(Boolean).join(", ");
      $("presence-button").title = "My availability: " + STATUS_LABELS[shown] + (note ? " (" + note + ")" : "");
    },
    choose: function (status) {
      presence.chosen = status;
      document.querySelectorAll("#presence-status .segment").forEach(function (b) {
        var on = b.dataset.status === status;
        b.classList.toggle("is-active", on);
        b.setAttribute("aria-checked", String(on));
      });
      document.querySelector(".presence-window").hidden = status !== "active";
    },
    open: function (show) {
      var panel = $("presence-panel");
      panel.hidden = !show;
      $("presence-button").setAttribute("aria-expanded", String(show));
      if (!show) return;
      var a = presence.current;
      presence.choose(a.status);
      $("presence-from").value = localInputValue(a.away_from);
      $("presence-until").value = localInputValue(a.away_until);
      $("presence-reason").value = a.reason || "";
      showFieldErrors($("presence-errors"), null);
    },
    save: function () {
      var a = presence.current, active = presence.chosen === "active";
      var body = { status: presence.chosen, reason: $("presence-reason").value.trim(),
                   away_from: active ? isoFromLocalInput($("presence-from").value) : null,
                   away_until: active ? isoFromLocalInput($("presence-until").value) : null,
                   max_open_tasks: a.max_open_tasks }; // the capacity an admin set stays as it is
      $("presence-save").disabled = true;
      api("/agents/me/availability/", { method: "PUT", body: body }).then(function (saved) {
        presence.current = saved;
        presence.render();
        presence.open(false);
        var shown = effectiveStatus(saved);
        toast(shown === "active" ? "You are active: new tasks can be assigned to you."
          : "You are " + STATUS_LABELS[shown].toLowerCase() + ": no new tasks are assigned to you.", "success");
        window.dispatchEvent(new CustomEvent("tts:availability", { detail: saved }));
      }).catch(function (e) { showFieldErrors($("presence-errors"), e, "Could not save your availability"); })
        .finally(function () { $("presence-save").disabled = false; });
    },
    init: function () {
      var wrap = $("presence");
      if (!wrap) return;
      api("/agents/me/availability/").then(function (a) {
        presence.current = a;
        presence.render();
        wrap.hidden = false;
      }).catch(function () { /* 404: the engine does not know this user (no role yet), so there is nothing to set */ });
      $("presence-button").addEventListener("click", function (event) {
        event.stopPropagation();
        presence.open($("presence-panel").hidden);
      });
      document.querySelectorAll("#presence-status .segment").forEach(function (b) {
        b.addEventListener("click", function () { presence.choose(b.dataset.status); showFieldErrors($("presence-errors"), null); });
      });
      $("presence-cancel").addEventListener("click", function () { presence.open(false); });
      $("presence-panel").addEventListener("submit", function (event) { event.preventDefault(); presence.save(); });
      document.addEventListener("click", function (event) {
        if (!$("presence-panel").hidden && !wrap.contains(event.target)) presence.open(false);
      });
      document.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && !$("presence-panel").hidden) { presence.open(false); $("presence-button").focus(); }
      });
    },
  };

  function taskUrl(taskId) { return "/app/tasks/" + encodeURIComponent(taskId) + "/"; }

  var NOTIFICATION_ICONS = {
    task_assignment: "plus", task_transfer_in: "arrow-in", task_transfer_out: "arrow-out", task_escalation: "arrow-up",
    task_completed: "check", sla_warning: "clock", sla_breach: "alert", comment_added: "chat", unrouted_ticket: "help",
    dead_letter: "alert",
  };
  // Notifications about no task open the admin page where they are dealt with.
  var NOTIFICATION_PAGES = { dead_letter: "/app/admin/dead-letters/" };

  /* One notification as a list item; clicking marks it read and opens its task. */
  function notificationItem(n, compact) {
    var href = n.related_task_id ? taskUrl(n.related_task_id) : NOTIFICATION_PAGES[n.notification_type] || null;
    var item = el("li", { class: "notif" + (n.is_read ? "" : " is-unread") + (compact ? " notif-compact" : ""),
                          dataset: { id: String(n.id), type: n.notification_type } },
      el("span", { class: "notif-icon notif-icon-" + n.notification_type, "aria-hidden": "true" },
        icon(NOTIFICATION_ICONS[n.notification_type] || "bell")),
      el("div", { class: "notif-body" },
        el("div", { class: "notif-subject", text: n.subject }),
        n.message && !compact ? el("div", { class: "notif-message", text: n.message }) : null,
        el("div", { class: "notif-meta muted", text: titleCase(n.notification_type) + " · " + timeAgo(n.created_at) })));
    item.tabIndex = 0;
    function open() {
      var done = n.is_read ? Promise.resolve() : api("/api/v2/notifications/inapp/" + n.id + "/read/", { method: "POST" })
        .then(function () { n.is_read = true; item.classList.remove("is-unread"); bell.refreshCount(); });
      done.then(function () { if (href) location.href = href; }).catch(report);
    }
    item.addEventListener("click", open);
    item.addEventListener("keydown", function (e) { if (e.key === "Enter") open(); });
    return item;
  }

  // --- Degraded modes banner: shown while the auth service does not answer (users served from cache) ---------------
  var degraded = {
    poll: function () {
      api("/api/status/").then(function (status) {
        var auth = status.auth_service, banner = $("degraded-banner");
        banner.hidden = auth.status === "ok";
        banner.textContent = auth.status === "ok" ? "" :
          "The auth service is not answering (since " + formatDate(auth.unavailable_since) + "). " +
          (new Date(auth.cached_users_until) > new Date()
            ? "Users are served from cached data until " + formatDate(auth.cached_users_until) + "; sign-ins and user changes may fail."
            : "Cached user data has expired: emails and user lookups wait until it answers again.");
        setTimeout(degraded.poll, status.recheck_seconds * 1000);
      }, function () {
        setTimeout(degraded.poll, 30000); // the API itself is unavailable: try again later, the banner as it was
      });
    },
  };

  // --- Page shell ----------------------------------------------------------------------------------------------------
  var readyCallbacks = [];
  var started = false;
  // Previous/next buttons and "Page n of m" for a paginated list ({count, next, previous}); goTo(page) reloads.
  function pager(box, body, page, pageSize, goTo, labels) {
    labels = labels || { previous: "← Previous", next: "Next →" };
    clear(box);
    if (!body.next && !body.previous) return;
    box.appendChild(el("button", { type: "button", class: "button button-small", disabled: !body.previous,
      text: labels.previous, onclick: function () { goTo(page - 1); } }));
    box.appendChild(el("span", { class: "muted small", text: "Page " + page + " of " + Math.ceil(body.count / pageSize) }));
    box.appendChild(el("button", { type: "button", class: "button button-small", disabled: !body.next,
      text: labels.next, onclick: function () { goTo(page + 1); } }));
  }

  function onReady(fn) { if (started) fn(session.user()); else readyCallbacks.push(fn); }

  function start() {
    var body = document.body;
    if (body.dataset.needsAuth !== "true") {
      started = true;
      readyCallbacks.forEach(function (fn) { fn(null); });
      return;
    }
    var s = session.get();
    if (!s || !s.refresh) { goToLogin(s ? "expired" : "signin"); return; }
    var user = session.user();
    // An expired access token is refreshed before the page loads anything.
    accessToken().then(function () {
      body.classList.remove("booting");
      body.classList.toggle("is-admin", user.isAdmin);
      $("user-name").textContent = user.username;
      $("user-avatar").textContent = (user.username[0] || "?").toUpperCase();
      $("user-chip").title = Object.keys(user.roles).map(function (sys) { return sys + ": " + user.roles[sys].join(", "); }).join("\n");
      var page = body.dataset.page;
      var anyManaged = false;
      document.querySelectorAll("[data-permission]").forEach(function (node) {
        node.hidden = !user.can(node.dataset.permission);
        if (!node.hidden && node.hasAttribute("data-nav")) anyManaged = true;
      });
      $("nav-sep").hidden = !anyManaged;
      document.querySelectorAll("[data-nav]").forEach(function (a) {
        if (a.dataset.nav.split(" ").indexOf(page) >= 0) { a.classList.add("is-active"); a.setAttribute("aria-current", "page"); }
      });
      $("logout").addEventListener("click", function () {
        // Revoke the refresh token server-side first: clearing the tab alone would leave it usable by whoever
        // copied it. Sign out locally whatever the answer (an already revoked token is refused with 401).
        clearTimeout(refreshTimer);
        var s = session.get();
        var revoked = s && s.refresh ? fetch("/token/logout/", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refresh_token: s.refresh }),
          keepalive: true,
        }).catch(function () {}) : Promise.resolve();
        revoked.then(function () {
          session.clear();
          location.replace(LOGIN_URL + "?reason=signedout");
        });
      });
      scheduleRefresh();
      bell.init();
      presence.init();
      degraded.poll();
      var needed = body.dataset.needsPermission;
      if (needed && !user.can(needed)) {
        $("forbidden-permission").textContent = needed;
        $("forbidden").hidden = false;
        $("page-content").hidden = true;
        return;
      }
      started = true;
      readyCallbacks.forEach(function (fn) {
        try { fn(user); } catch (e) { report(e); }
      });
    });
  }

  // A failure nobody caught still reads as a message, not a console-only stack trace.
  window.addEventListener("unhandledrejection", function (event) {
    if (event.reason instanceof ApiError) { report(event.reason); event.preventDefault(); }
  });

  window.TTS = {
    el: el, svg: svg, icon: icon, clear: clear, $: $, toast: toast, api: api, apiAll: apiAll, report: report, ApiError: ApiError,
    session: session, socket: socket, bell: bell, onReady: onReady, goToLogin: goToLogin, taskUrl: taskUrl,
    notificationItem: notificationItem, pager: pager,
    fmt: { date: formatDate, duration: formatDuration, ago: timeAgo, title: titleCase },
    slaInfo: slaInfo, badge: badge, decodeJwt: decodeJwt,
    availability: { effective: effectiveStatus, labels: STATUS_LABELS, toInput: localInputValue, fromInput: isoFromLocalInput },
    showFieldErrors: showFieldErrors,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
