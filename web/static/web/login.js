/* Login page: POST /token/, keep the pair in sessionStorage, go where the user was headed. */
(function () {
  "use strict";
  var T = window.TTS;
  var REASONS = {
    expired: "Your session has expired. Please sign in again.",
    signin: "Please sign in to continue.",
    signedout: "You have signed out.",
  };

  function safeNext(value) {
    // Only our own pages: never an absolute or protocol-relative URL (open redirect).
    return value && /^\/app\/[^\/]/.test(value) && value.indexOf("//") < 0 && value.indexOf("/app/login/") !== 0 ? value : "/app/queue/";
  }

  T.onReady(function () {
    var params = new URLSearchParams(location.search);
    var message = T.$("login-message");
    function show(text, kind) {
      message.textContent = text;
      message.className = "alert alert-" + (kind || "error");
      message.hidden = !text;
    }
    var reason = params.get("reason");
    if (REASONS[reason]) show(REASONS[reason], reason === "signedout" ? "info" : "warning");
    // Already signed in (e.g. the back button): straight on.
    var existing = T.session.get();
    if (existing && existing.exp > Date.now() / 1000 + 5 && !reason) {
      location.replace(safeNext(params.get("next")));
      return;
    }
    var form = T.$("login-form"), submit = T.$("login-submit");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var username = T.$("username").value.trim(), password = T.$("password").value;
      if (!username || !password) { show("Enter your username and password."); return; }
      submit.disabled = true;
      submit.textContent = "Signing in…";
      fetch("/token/", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: username, password: password }),
      }).then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (res.ok) {
            T.session.save(body);
            location.replace(safeNext(params.get("next")));
            return;
          }
          if (res.status === 401 || res.status === 400) show("Wrong username or password, or the account is inactive.");
          else if (res.status === 429) {
            var wait = Number(res.headers.get("Retry-After"));
            show("Too many failed sign-ins. Try again " + (wait ? "in " + T.fmt.duration(wait) : "later") + ".");
          } else show("Sign-in is unavailable right now (HTTP " + res.status + "). Please try again shortly.");
          T.$("password").value = "";
          T.$("password").focus();
        });
      }).catch(function () {
        show("Can't reach the server. Check your connection and try again.");
      }).finally(function () {
        submit.disabled = false;
        submit.textContent = "Sign in";
      });
    });
  });
})();
