/* Email preferences: per notification type an email mode and a quiet-hours exemption; the unread delay, time zone,
   quiet hours and digest hour. One PUT saves them all; field errors come back as a toast (TTS.report). */
(function () {
  "use strict";
  var T = window.TTS;
  var URL = "/api/v2/notifications/preferences/";
  var MODE_LABELS = { off: "Off", immediate: "Right away", if_unread: "If still unread", digest: "In the daily digest" };

  function typeRow(type, prefs) {
    var select = T.el("select", { "aria-label": T.fmt.title(type) + " email", dataset: { type: type } },
      prefs.available_modes.map(function (mode) {
        return T.el("option", { value: mode, selected: prefs.email_modes[type] === mode, text: MODE_LABELS[mode] || T.fmt.title(mode) });
      }));
    var exempt = T.el("input", { type: "checkbox", "aria-label": T.fmt.title(type) + " even in quiet hours",
      dataset: { exempt: type }, checked: prefs.quiet_hours_exempt_types.indexOf(type) >= 0 });
    return T.el("tr", { dataset: { typeRow: type } }, T.el("td", { text: T.fmt.title(type) }), T.el("td", null, select),
      T.el("td", null, exempt));
  }

  function syncQuiet() {
    var on = T.$("prefs-quiet").checked;
    T.$("prefs-quiet-start").disabled = !on;
    T.$("prefs-quiet-end").disabled = !on;
  }

  function show(prefs) {
    var body = T.clear(T.$("prefs-types-body"));
    prefs.available_types.forEach(function (type) { body.appendChild(typeRow(type, prefs)); });
    T.$("prefs-delay").value = prefs.unread_delay_minutes;
    T.$("prefs-time-zone").value = prefs.time_zone;
    T.$("prefs-digest-hour").value = String(prefs.digest_hour);
    T.$("prefs-quiet").checked = prefs.quiet_hours_start !== null;
    T.$("prefs-quiet-start").value = prefs.quiet_hours_start || "22:00";
    T.$("prefs-quiet-end").value = prefs.quiet_hours_end || "07:00";
    syncQuiet();
  }

  function collect() {
    var modes = {};
    document.querySelectorAll("[data-type]").forEach(function (select) { modes[select.dataset.type] = select.value; });
    var exempt = [];
    document.querySelectorAll("[data-exempt]").forEach(function (box) { if (box.checked) exempt.push(box.dataset.exempt); });
    var quiet = T.$("prefs-quiet").checked;
    return {
      email_modes: modes,
      quiet_hours_exempt_types: exempt,
      unread_delay_minutes: Number(T.$("prefs-delay").value),
      time_zone: T.$("prefs-time-zone").value.trim(),
      digest_hour: Number(T.$("prefs-digest-hour").value),
      quiet_hours_start: quiet ? T.$("prefs-quiet-start").value : null,
      quiet_hours_end: quiet ? T.$("prefs-quiet-end").value : null,
    };
  }

  T.onReady(function () {
    var hours = T.$("prefs-digest-hour");
    for (var h = 0; h < 24; h++) hours.appendChild(T.el("option", { value: String(h), text: String(h).padStart(2, "0") + ":00" }));
    var zones = T.$("prefs-time-zones");
    (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []).forEach(function (zone) {
      zones.appendChild(T.el("option", { value: zone }));
    });
    T.$("prefs-quiet").addEventListener("change", syncQuiet);
    T.$("prefs-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var button = T.$("prefs-save");
      button.disabled = true;
      T.api(URL, { method: "PUT", body: collect() })
        .then(function (prefs) { show(prefs); T.toast("Preferences saved.", "success"); })
        .catch(function (e) { T.report(e, "Could not save preferences"); })
        .then(function () { button.disabled = false; });
    });
    T.api(URL).then(show).catch(function (e) { T.report(e, "Could not load preferences"); });
  });
})();
