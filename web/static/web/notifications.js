/* Notifications page: the caller's in-app notifications, newest first; unread filter; mark read; live updates. */
(function () {
  "use strict";
  var T = window.TTS;
  var state = { unread: "", page: 1, pageSize: 25 };

  function load() {
    T.api("/api/v2/notifications/inapp/", { query: { unread: state.unread || null, page: state.page, page_size: state.pageSize } })
      .then(function (body) {
        var list = T.clear(T.$("notif-list"));
        body.results.forEach(function (n) { list.appendChild(T.notificationItem(n, false)); });
        T.$("notif-empty").hidden = body.results.length > 0;
        T.$("notif-summary").textContent = body.count + (state.unread ? " unread" : "") + (body.count === 1 ? " notification" : " notifications");
        T.pager(T.$("notif-pager"), body, state.page, state.pageSize, function (page) { state.page = page; load(); },
                { previous: "← Newer", next: "Older →" });
      }).catch(function (e) { T.report(e, "Could not load notifications"); });
  }

  T.onReady(function () {
    document.querySelectorAll("[data-unread]").forEach(function (button) {
      button.addEventListener("click", function () {
        state.unread = button.dataset.unread;
        state.page = 1;
        document.querySelectorAll("[data-unread]").forEach(function (b) {
          b.classList.toggle("is-active", b === button);
          b.setAttribute("aria-pressed", String(b === button));
        });
        load();
      });
    });
    T.$("notif-read-all").addEventListener("click", function () {
      T.api("/api/v2/notifications/inapp/read-all/", { method: "POST" }).then(function (body) {
        T.bell.setCount(body.unread_count);
        T.toast(body.marked_read ? "Marked " + body.marked_read + " as read." : "Nothing unread.", "success");
        load();
      }).catch(T.report);
    });
    window.addEventListener("tts:notification", function () { if (state.page === 1) load(); });
    window.addEventListener("tts:notifications-read", load);
    load();
  });
})();
