/* Admin · Calendars: list the business calendars SLA clocks run on (GET /calendars/), create one (POST), edit its
   zone, working hours per weekday and holidays (PUT /calendars/{id}/), delete an unused one (DELETE; 409 while a
   workflow uses it) and see which workflows use each. The API's field errors are shown next to what they concern:
   a weekday's errors next to that day. */
(function () {
  "use strict";
  var T = window.TTS, el = T.el;
  var DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  var DAY_NAMES = { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday", sun: "Sunday" };
  var PAGE_SIZE = 50;
  var dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric" });
  var state = { page: 1, calendars: [], editing: null };

  function short(day) { return DAY_NAMES[day].slice(0, 3); }

  /* "Mon–Fri 09:00–17:00 · Sat 09:00–12:00": consecutive days with the same windows share one entry. */
  function hoursSummary(weekly) {
    var groups = [];
    DAYS.forEach(function (day) {
      var windows = (weekly[day] || []).map(function (w) { return w[0] + "–" + w[1]; }).join(", ");
      var last = groups[groups.length - 1];
      if (last && last.windows === windows && DAYS.indexOf(day) === DAYS.indexOf(last.to) + 1) last.to = day;
      else groups.push({ from: day, to: day, windows: windows });
    });
    var open = groups.filter(function (g) { return g.windows; });
    if (!open.length) return "Closed";
    return open.map(function (g) {
      return (g.from === g.to ? short(g.from) : short(g.from) + "–" + short(g.to)) + " " + g.windows;
    }).join(" · ");
  }

  function holidayLabel(iso) {
    var parts = iso.split("-").map(Number);
    return dayFmt.format(new Date(parts[0], parts[1] - 1, parts[2]));
  }

  // --- List --------------------------------------------------------------------------------------------------------
  function load() {
    var seq = state.seq = (state.seq || 0) + 1;
    return T.api("/calendars/", { query: { page: state.page, page_size: PAGE_SIZE } }).then(function (body) {
      if (seq !== state.seq) return;
      state.calendars = body.results;
      var tbody = T.clear(T.$("cal-body"));
      body.results.forEach(function (c) { tbody.appendChild(row(c)); });
      if (!body.results.length) {
        tbody.appendChild(el("tr", null, el("td", { colspan: "4", class: "empty-cell" },
          el("strong", { text: "No calendars yet" }),
          el("span", { class: "muted small", text: "Without one, a workflow's SLA clock runs round the clock." }))));
      }
      T.$("cal-summary").textContent = body.count + (body.count === 1 ? " calendar" : " calendars");
      T.pager(T.$("cal-pager"), body, state.page, PAGE_SIZE, function (page) { state.page = page; load(); });
    }).catch(function (e) { T.report(e, "Could not load calendars"); });
  }

  function row(c) {
    var selected = state.editing && state.editing.id === c.id;
    var tr = el("tr", { class: "clickable" + (selected ? " is-selected" : ""), dataset: { calendarId: String(c.id), name: c.name } },
      el("td", { "data-label": "Calendar", class: "cell-main" },
        el("button", { type: "button", class: "link-button row-link", text: c.name }),
        el("div", { class: "muted small", text: c.time_zone })),
      el("td", { "data-label": "Hours", class: "small cal-hours", text: hoursSummary(c.weekly_hours) }),
      el("td", { "data-label": "Holidays", class: "nowrap", text: c.holidays.length ? String(c.holidays.length) : "None" }),
      el("td", { "data-label": "Used by", class: "cal-used" }, c.workflows.length
        ? el("div", { class: "chips" }, c.workflows.map(function (w) { return el("span", { class: "chip", text: w.name + " v" + w.version }); }))
        : el("span", { class: "muted small", text: "No workflow" })));
    tr.addEventListener("click", function () { edit(c); });
    return tr;
  }

  function markSelected() {
    document.querySelectorAll("#cal-body tr[data-calendar-id]").forEach(function (tr) {
      tr.classList.toggle("is-selected", !!state.editing && tr.dataset.calendarId === String(state.editing.id));
    });
  }

  // --- Editor ------------------------------------------------------------------------------------------------------
  function copyHours(weekly) {
    var hours = {};
    DAYS.forEach(function (day) { hours[day] = (weekly[day] || []).map(function (w) { return [w[0], w[1]]; }); });
    return hours;
  }

  function edit(calendar) {
    var fresh = !calendar;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    state.editing = fresh
      ? { id: null, name: "", time_zone: zone, weekly_hours: copyHours({ mon: [["09:00", "17:00"]], tue: [["09:00", "17:00"]],
          wed: [["09:00", "17:00"]], thu: [["09:00", "17:00"]], fri: [["09:00", "17:00"]] }), holidays: [], workflows: [] }
      : { id: calendar.id, name: calendar.name, time_zone: calendar.time_zone, weekly_hours: copyHours(calendar.weekly_hours),
          holidays: calendar.holidays.slice(), workflows: calendar.workflows, updated_at: calendar.updated_at };
    var c = state.editing;
    T.$("cal-panel").hidden = false;
    T.$("cal-title").textContent = fresh ? "New calendar" : c.name;
    T.$("cal-subtitle").textContent = fresh ? "Working hours and holidays of an SLA clock." : "Changed " + T.fmt.date(c.updated_at);
    T.$("cal-name").value = c.name;
    T.$("cal-zone").value = c.time_zone;
    T.$("cal-delete").hidden = fresh;
    T.$("cal-save").textContent = fresh ? "Create calendar" : "Save changes";
    clearErrors();
    renderDays();
    renderHolidays();
    renderUsage();
    markSelected();
    if (fresh) T.$("cal-name").focus();
  }

  function renderDays() {
    var box = T.clear(T.$("cal-days"));
    DAYS.forEach(function (day) {
      var windows = state.editing.weekly_hours[day];
      var list = el("div", { class: "cal-windows" });
      windows.forEach(function (w, index) {
        var label = DAY_NAMES[day] + " window " + (index + 1);
        function input(i, what) {
          return el("input", { class: "cal-time", value: w[i], maxlength: "5", inputmode: "numeric", placeholder: "HH:MM",
            "aria-label": label + " " + what, oninput: function (event) { w[i] = event.target.value.trim(); } });
        }
        list.appendChild(el("span", { class: "cal-window" }, input(0, "start"), el("span", { class: "muted", text: "–" }), input(1, "end"),
          el("button", { type: "button", class: "chip-remove", "aria-label": "Remove " + label, title: "Remove", text: "×",
            onclick: function () { windows.splice(index, 1); renderDays(); } })));
      });
      if (!windows.length) list.appendChild(el("span", { class: "muted small cal-closed", text: "Closed" }));
      list.appendChild(el("button", { type: "button", class: "link-button small cal-add", text: "+ Add window",
        "aria-label": "Add a window on " + DAY_NAMES[day],
        onclick: function () {
          windows.push(windows.length ? ["", ""] : ["09:00", "17:00"]);
          renderDays();
          var inputs = document.querySelectorAll("#cal-days .cal-day[data-day='" + day + "'] .cal-time");
          inputs[inputs.length - 2].focus();
        } }));
      box.appendChild(el("div", { class: "cal-day", dataset: { day: day } },
        el("span", { class: "cal-day-name", text: short(day) }),
        el("div", { class: "cal-day-body" }, list,
          el("div", { class: "field-error", id: "cal-day-error-" + day, role: "alert", hidden: true }))));
    });
  }

  function renderHolidays() {
    var list = T.clear(T.$("cal-holidays"));
    state.editing.holidays.sort();
    state.editing.holidays.forEach(function (iso) {
      list.appendChild(el("li", { class: "chip chip-removable", dataset: { date: iso } },
        el("span", { text: holidayLabel(iso), title: iso }),
        el("button", { type: "button", class: "chip-remove", "aria-label": "Remove holiday " + iso, title: "Remove", text: "×",
          onclick: function () {
            state.editing.holidays = state.editing.holidays.filter(function (d) { return d !== iso; });
            renderHolidays();
          } })));
    });
    if (!state.editing.holidays.length) list.appendChild(el("li", { class: "muted small", text: "No holidays." }));
  }

  function renderUsage() {
    var c = state.editing;
    T.$("cal-usage").hidden = !c.id;
    var list = T.clear(T.$("cal-workflows"));
    c.workflows.forEach(function (w) {
      list.appendChild(el("li", { class: "member", dataset: { workflowId: String(w.id) } },
        el("a", { class: "member-name", href: "/app/admin/workflows/#" + w.id, text: w.name }),
        el("span", { class: "muted small", text: "v" + w.version }),
        T.badge("wf", w.status)));
    });
    if (!c.workflows.length) list.appendChild(el("li", { class: "muted small", text: "No workflow uses this calendar: it can be deleted." }));
  }

  function clearErrors() {
    document.querySelectorAll("#cal-form .field-error").forEach(function (box) { box.hidden = true; box.textContent = ""; });
    document.querySelectorAll("#cal-form [aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    document.querySelectorAll("#cal-days .cal-day").forEach(function (d) { d.classList.remove("has-error"); });
    T.showFieldErrors(T.$("cal-errors"), null);
  }

  function flat(messages) { return [].concat(messages).join(" "); }

  /* A 400's field errors next to their fields; weekly_hours errors keyed by weekday next to that day. */
  function showErrors(error) {
    var errors = error.status === 400 && error.body && error.body.errors;
    if (!errors) { T.report(error, "Could not save the calendar"); return; }
    var rest = {};
    Object.keys(errors).forEach(function (field) {
      var messages = errors[field];
      if (field === "weekly_hours" && messages && !Array.isArray(messages)) {
        Object.keys(messages).forEach(function (day) {
          var box = T.$("cal-day-error-" + day);
          if (!box) { rest[field + " (" + day + ")"] = messages[day]; return; }
          box.textContent = flat(messages[day]);
          box.hidden = false;
          box.closest(".cal-day").classList.add("has-error");
          box.closest(".cal-day").querySelectorAll("input").forEach(function (input) { input.setAttribute("aria-invalid", "true"); });
        });
        return;
      }
      var box = document.querySelector("#cal-form [data-error-for='" + field + "']");
      if (!box) { rest[field] = messages; return; }
      box.textContent = Array.isArray(messages) ? flat(messages) : Object.keys(messages).map(function (k) { return k + ": " + flat(messages[k]); }).join(" ");
      box.hidden = false;
      var input = box.parentElement.querySelector("input");
      if (input) input.setAttribute("aria-invalid", "true");
    });
    if (Object.keys(rest).length) T.showFieldErrors(T.$("cal-errors"), { status: 400, body: { errors: rest } });
    T.toast("The calendar was not saved: fix the marked fields.", "error");
  }

  function save() {
    var c = state.editing;
    var weekly = {};
    DAYS.forEach(function (day) { if (c.weekly_hours[day].length) weekly[day] = c.weekly_hours[day]; });
    var body = { name: T.$("cal-name").value.trim(), time_zone: T.$("cal-zone").value.trim(), weekly_hours: weekly, holidays: c.holidays };
    clearErrors();
    T.$("cal-save").disabled = true;
    var request = c.id ? T.api("/calendars/" + c.id + "/", { method: "PUT", body: body }) : T.api("/calendars/", { method: "POST", body: body });
    request.then(function (saved) {
      T.toast((c.id ? "Saved " : "Created ") + saved.name + ".", "success");
      edit(saved);
      return load();
    }).catch(showErrors).finally(function () { T.$("cal-save").disabled = false; });
  }

  function remove() {
    var c = state.editing;
    if (!window.confirm("Delete the calendar " + c.name + "?")) return;
    T.api("/calendars/" + c.id + "/", { method: "DELETE" }).then(function () {
      T.toast("Deleted " + c.name + ".", "success");
      state.editing = null;
      T.$("cal-panel").hidden = true;
      return load();
    }).catch(function (e) { T.report(e, "Could not delete " + c.name); });
  }

  T.onReady(function () {
    if (typeof Intl.supportedValuesOf === "function") {
      var zones = T.$("cal-zones");
      Intl.supportedValuesOf("timeZone").forEach(function (zone) { zones.appendChild(el("option", { value: zone })); });
    }
    T.$("cal-new").addEventListener("click", function () { edit(null); });
    T.$("cal-close").addEventListener("click", function () { state.editing = null; T.$("cal-panel").hidden = true; markSelected(); });
    T.$("cal-form").addEventListener("submit", function (event) { event.preventDefault(); save(); });
    T.$("cal-delete").addEventListener("click", remove);
    T.$("cal-holiday-add").addEventListener("click", function () {
      var value = T.$("cal-holiday-date").value;
      if (!value) { T.toast("Pick the holiday's date first.", "warning"); return; }
      if (state.editing.holidays.indexOf(value) < 0) state.editing.holidays.push(value);
      T.$("cal-holiday-date").value = "";
      renderHolidays();
    });
    load();
  });
})();
