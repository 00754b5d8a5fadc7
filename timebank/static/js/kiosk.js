// The kiosk: a screen at the entrance showing the event's rotating code for hours on end.
// One timer at a time, no list that grows and listeners added once, so it can run all day;
// the countdown follows the server's "expires_in", never this device's clock.
(function () {
  "use strict";

  var root = document.getElementById("kiosk");
  if (!root) return;
  var qr = document.getElementById("kiosk-qr");
  var countdown = document.getElementById("kiosk-countdown");
  var template = countdown.getAttribute("data-label-template");
  var progress = document.getElementById("kiosk-progress");
  var notice = document.getElementById("kiosk-reconnecting");
  var counts = root.querySelectorAll("[data-count]");
  var fullscreen = document.getElementById("kiosk-fullscreen");
  var url = root.getAttribute("data-code-url");

  // Ask this long after the turn, so the answer is the next code (the previous one is
  // still accepted for a grace period, so a little late is harmless).
  var SLACK_MS = 300;
  var REQUEST_TIMEOUT_MS = 10000;
  var BACKOFF_MIN_MS = 2000;
  var BACKOFF_MAX_MS = 30000;

  var expiresAt = now() + Math.max(0, parseFloat(root.getAttribute("data-expires-in")) || 0) * 1000;
  var timer = null;
  var busy = false;
  var failures = 0;

  // Monotonic: a clock corrected by NTP during the day does not disturb the countdown.
  function now() { return window.performance.now(); }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(tick, Math.max(0, delay));
  }

  function render() {
    var left = Math.max(0, expiresAt - now());
    countdown.textContent = template.replace("{s}", String(Math.ceil(left / 1000)));
    progress.value = left / 1000;
  }

  function tick() {
    timer = null;
    render();
    var left = expiresAt - now();
    if (left + SLACK_MS <= 0) {
      refresh();
      return;
    }
    // Wake when the whole second shown changes, or at the turn, whichever comes first.
    var toNextSecond = left > 0 ? (left % 1000 || 1000) : left + SLACK_MS;
    schedule(Math.min(toNextSecond + 5, left + SLACK_MS));
  }

  function show(data) {
    if (qr.getAttribute("data-token") !== data.token) {
      qr.innerHTML = data.svg;
      qr.setAttribute("data-token", data.token);
    }
    expiresAt = now() + Math.max(0, data.expires_in) * 1000;
    progress.max = data.period;
    for (var i = 0; i < counts.length; i++) {
      var value = data.counts[counts[i].getAttribute("data-count")];
      if (value !== undefined) counts[i].textContent = String(value);
    }
  }

  function backoff() {
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, failures - 1));
    return delay * (0.75 + Math.random() * 0.5); // spread the kiosks of one station apart
  }

  function refresh() {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    timer = null;
    var options = { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
    if (window.AbortSignal && AbortSignal.timeout) options.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    fetch(url, options)
      .then(function (response) {
        // Signed out, or no longer an organizer: the page itself says what to do.
        if (response.redirected || [401, 403, 404].indexOf(response.status) >= 0) {
          window.location.reload();
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        busy = false;
        if (!data) return;
        failures = 0;
        notice.hidden = true;
        root.classList.remove("is-offline");
        show(data);
        tick();
      })
      .catch(function () {
        busy = false;
        failures += 1;
        // Keep the last code on screen: it still works for its grace period.
        notice.hidden = false;
        root.classList.add("is-offline");
        render();
        schedule(backoff());
      });
  }

  // Background tabs have their timers slowed: catch up at once when shown again.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) return;
    keepAwake();
    if (!busy) refresh();
  });
  window.addEventListener("online", function () {
    if (!busy && failures) refresh();
  });

  // A kiosk must not dim or lock its screen (where the browser allows asking).
  var wakeLock = null;
  function keepAwake() {
    if (wakeLock || !navigator.wakeLock || document.hidden) return;
    navigator.wakeLock.request("screen").then(function (lock) {
      wakeLock = lock;
      lock.addEventListener("release", function () { wakeLock = null; });
    }).catch(function () {});
  }

  if (fullscreen && document.documentElement.requestFullscreen) {
    fullscreen.hidden = !!document.fullscreenElement;
    fullscreen.addEventListener("click", function () {
      document.documentElement.requestFullscreen().catch(function () {});
    });
    document.addEventListener("fullscreenchange", function () {
      fullscreen.hidden = !!document.fullscreenElement;
    });
  }

  keepAwake();
  tick();
})();
