// The volunteer's personal code: fetch a fresh code when the current one expires, and
// count down in between. One timer for the page's life, so it can stay open for hours.
(function () {
  "use strict";
  var root = document.querySelector(".personal-code");
  if (!root) return;
  var qr = document.getElementById("personal-qr");
  var countdown = document.getElementById("countdown");
  var offline = document.getElementById("code-offline");
  var template = countdown.getAttribute("data-label-template");
  var url = root.getAttribute("data-refresh-url");
  // The server's clock decides expiry: count the seconds it says are left, never compare
  // its timestamp with the phone's clock, which may be minutes off.
  var expiresAt = Date.now() + Math.max(parseFloat(root.getAttribute("data-expires-in")), 1) * 1000;
  // Seconds left arrive rounded; ask a little after the turn so the answer is the new code
  // (the old one still scans during the next window, so being late by this much is harmless).
  var SLACK = 700;
  var fetching = false;
  var retryAt = 0;

  function show(data) {
    qr.innerHTML = data.svg;
    qr.setAttribute("data-token-tail", data.token.slice(-4));
    expiresAt = Date.now() + data.expires_in * 1000;
    offline.hidden = true;
  }

  function refresh() {
    fetching = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.redirected) {
          window.location.reload();
          return null;
        }
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) { if (data) show(data); })
      .catch(function () {
        offline.hidden = false;
        retryAt = Date.now() + 5000;
      })
      .then(function () { fetching = false; });
  }

  function tick() {
    var left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
    countdown.textContent = template.replace("{s}", left);
    if (Date.now() >= expiresAt + SLACK && !fetching && Date.now() >= retryAt) refresh();
  }

  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !fetching) refresh();
  });
  tick();
})();
