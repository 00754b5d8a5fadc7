// The staff scanner: reads volunteers' personal codes (TBP.… phone, TBC.… card) with the
// camera or a keyboard-wedge scanner and posts each scan to the API. Every scan goes through
// a queue kept in localStorage: it leaves the queue only once the server has answered, so a
// scan made with no network is uploaded later, with the same nonce (never recorded twice).
(function () {
  "use strict";
  var root = document.getElementById("scanner");
  if (!root) return;

  var messages = JSON.parse(document.getElementById("scanner-messages").textContent);
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var scansUrl = root.getAttribute("data-scans-url");
  var queueKey = root.getAttribute("data-queue-key");
  var lang = document.documentElement.lang || undefined;

  var result = document.getElementById("scanner-result");
  var resultMessage = document.getElementById("scanner-message");
  var resultName = document.getElementById("scanner-name");
  var resultTime = document.getElementById("scanner-time");
  var queueNotice = document.getElementById("scanner-queue");
  var log = document.getElementById("scanner-log");
  var form = document.getElementById("wedge-form");
  var input = document.getElementById("wedge-input");

  var CODE_RE = /^TB[PC]\.[0-9A-F]{16}\.[0-9]{1,12}\.[A-Z2-7]{26}$/;
  var REPEAT_MS = 3000; // the camera sees a code held up many times a second
  var RETRY_MIN_MS = 3000;
  var RETRY_MAX_MS = 60000;
  var REQUEST_TIMEOUT_MS = 15000;
  var LOG_SIZE = 8;

  function format(template, n) { return template.replace("{n}", String(n)); }

  // Mode

  function purpose() {
    var checked = root.querySelector('input[name="purpose"]:checked');
    return checked ? checked.value : "checkin";
  }

  root.addEventListener("change", function (event) {
    if (event.target.name !== "purpose") return;
    root.setAttribute("data-purpose", purpose());
    if (window.history.replaceState) {
      var url = new URL(window.location.href);
      url.searchParams.set("purpose", purpose());
      window.history.replaceState(null, "", url.toString());
    }
    input.focus();
  });

  // Sound: one AudioContext for the page's life; browsers allow sound after a tap or a key.

  var audio = null;
  var TONES = {
    ok: { type: "sine", notes: [[880, 0.12], [1320, 0.12]] },
    warn: { type: "triangle", notes: [[520, 0.1], [520, 0.1]] },
    error: { type: "square", notes: [[200, 0.45]] },
    queued: { type: "sine", notes: [[660, 0.08]] },
  };

  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      try { audio = new Context(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === "suspended") audio.resume().catch(function () {});
  }
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);

  function beep(tone) {
    var spec = TONES[tone];
    if (!audio || !spec || audio.state !== "running") return;
    var at = audio.currentTime;
    spec.notes.forEach(function (note) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = spec.type;
      osc.frequency.value = note[0];
      gain.gain.setValueAtTime(0.25, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + note[1]);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.onended = function () { osc.disconnect(); gain.disconnect(); };
      osc.start(at);
      osc.stop(at + note[1]);
      at += note[1] + 0.05;
    });
  }

  // What the staff see

  var timeZone = root.getAttribute("data-time-zone") || undefined;

  function clock(iso) {
    if (!iso) return "";
    // An ISO time without a zone is UTC (the server's times always are).
    var when = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
    if (isNaN(when.getTime())) return "";
    // The event's local time, as the server's messages give it, whatever the device's zone.
    var options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
    try {
      return when.toLocaleTimeString(lang, Object.assign({ timeZone: timeZone }, options));
    } catch (e) {
      return when.toLocaleTimeString(lang, options);
    }
  }

  function show(tone, outcome, message, name, iso) {
    result.setAttribute("data-tone", tone);
    result.setAttribute("data-outcome", outcome);
    resultMessage.textContent = message;
    resultName.textContent = name || "";
    resultTime.textContent = clock(iso);
    if (iso) resultTime.setAttribute("datetime", iso); else resultTime.removeAttribute("datetime");
    // Restart the flash even when two results in a row have the same colour.
    result.classList.remove("flash-in");
    void result.offsetWidth;
    result.classList.add("flash-in");
    beep(tone);

    var item = document.createElement("li");
    item.className = "tone-" + tone;
    var time = document.createElement("time");
    time.textContent = clock(iso) || clock(new Date().toISOString());
    var text = document.createElement("span");
    text.textContent = message; // the server's message names the person
    item.appendChild(time);
    item.appendChild(text);
    log.insertBefore(item, log.firstChild);
    while (log.children.length > LOG_SIZE) log.removeChild(log.lastChild);
  }

  function showAnswer(scan, status, body) {
    body = body || {};
    if (status >= 200 && status < 300) {
      // The server's message says it all (walk-in, identity not verified yet...).
      show(
        body.recorded ? "ok" : "warn",
        body.outcome || "",
        body.message || "",
        body.volunteer ? body.volunteer.name : "",
        body.at || scan.scanned_at
      );
    } else {
      var error = body.error || {};
      show("error", error.code || "error", error.message || "HTTP " + status, "", scan.scanned_at);
    }
  }

  // The queue

  function load() {
    try {
      var queue = JSON.parse(window.localStorage.getItem(queueKey) || "[]");
      return Array.isArray(queue) ? queue : [];
    } catch (e) {
      return [];
    }
  }

  function save(queue) {
    try {
      if (queue.length) window.localStorage.setItem(queueKey, JSON.stringify(queue));
      else window.localStorage.removeItem(queueKey);
    } catch (e) { /* storage full or disabled: the scan is still tried while the page is open */ }
  }

  var memory = null; // used only where localStorage refuses to store anything

  function queue() { return memory || load(); }

  function store(items) {
    save(items);
    if (load().length !== items.length) memory = items.length ? items : null;
  }

  function forget(nonce) {
    store(queue().filter(function (item) { return item.nonce !== nonce; }));
  }

  function showQueue(waiting, template) {
    queueNotice.setAttribute("data-count", String(waiting));
    queueNotice.hidden = waiting === 0;
    if (waiting) queueNotice.textContent = format(template, waiting);
  }

  function nonce() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var sending = false;
  var failures = 0;
  var retryTimer = null;

  function retryLater() {
    if (retryTimer) return;
    var delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * Math.pow(2, Math.max(0, failures - 1)));
    retryTimer = setTimeout(function () { retryTimer = null; pump(); }, delay);
  }

  function retryNow() {
    clearTimeout(retryTimer);
    retryTimer = null;
    failures = 0;
    pump();
  }

  // Kept for later: no network, the server in trouble, or the session gone (the scans wait
  // for the staff member to sign in again rather than being thrown away).
  function Later(kind) { this.kind = kind; }

  function send(scan) {
    var options = {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({
        token: scan.token,
        purpose: scan.purpose,
        nonce: scan.nonce,
        scanned_at: scan.scanned_at,
      }),
    };
    if (window.AbortSignal && AbortSignal.timeout) options.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    return fetch(scansUrl, options).then(
      function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          var code = body && body.error ? body.error.code : null;
          if (response.status === 401 || response.redirected || code === "csrf_failed") throw new Later("signed_out");
          if (response.status === 408 || response.status === 429 || response.status >= 500) throw new Later("server");
          return { status: response.status, body: body };
        });
      },
      function () { throw new Later("network"); }
    );
  }

  // fresh: a scan just made, whose reader waits to hear that it was taken.
  function pump(fresh) {
    if (sending) return;
    var waiting = queue();
    if (!waiting.length) {
      showQueue(0, messages.queued);
      return;
    }
    if (navigator.onLine === false) {
      showQueue(waiting.length, messages.queued);
      if (fresh) show("queued", "queued", format(messages.queued, waiting.length), "", waiting[waiting.length - 1].scanned_at);
      retryLater();
      return;
    }
    if (failures) showQueue(waiting.length, messages.uploading);
    sending = true;
    var scan = waiting[0];
    send(scan).then(
      function (answer) {
        sending = false;
        failures = 0;
        forget(scan.nonce);
        showAnswer(scan, answer.status, answer.body);
        pump();
      },
      function (reason) {
        sending = false;
        failures += 1;
        var left = queue();
        var kind = reason instanceof Later ? reason.kind : "network";
        var template = kind === "signed_out" ? messages.signed_out : kind === "server" ? messages.server_error : messages.queued;
        showQueue(left.length, template);
        if (fresh || failures === 1) show("queued", "queued", format(template, left.length), "", left[left.length - 1].scanned_at);
        retryLater();
      }
    );
  }

  window.addEventListener("online", retryNow);
  window.addEventListener("offline", function () { showQueue(queue().length, messages.queued); });

  // A scan, from either reader

  var lastToken = null;
  var lastSeen = 0;

  function scanned(raw, source) {
    // Scanners typing through an input method may send full-width or lower-case letters.
    var token = String(raw || "").normalize("NFKC").trim().toUpperCase();
    if (!token) return;
    var seen = Date.now();
    if (source === "camera") {
      var repeat = token === lastToken && seen - lastSeen < REPEAT_MS;
      lastToken = token;
      lastSeen = seen;
      if (repeat) return;
    }
    if (!CODE_RE.test(token)) {
      show("error", "not_personal_code", messages.not_personal, "", null);
      return;
    }
    var items = queue();
    items.push({ token: token, purpose: purpose(), nonce: nonce(), scanned_at: new Date(seen).toISOString() });
    store(items);
    pump(true);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = input.value;
    input.value = "";
    scanned(value, "wedge");
    input.focus();
  });

  // A scanner types wherever the focus is: bring stray keys back to the input.
  document.addEventListener("keydown", function (event) {
    var active = document.activeElement;
    var typing = active && (active.tagName === "TEXTAREA" || (active.tagName === "INPUT" && /^(text|search|tel|password)$/.test(active.type)));
    if (!typing && event.key && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) input.focus();
  });

  // The camera

  var startButton = document.getElementById("camera-start");
  var stopButton = document.getElementById("camera-stop");
  var cameraStatus = document.getElementById("camera-status");
  var view = document.getElementById("camera-view");
  var video = document.getElementById("camera-video");
  var FRAME_MS = 150;
  var MAX_SIDE = 640; // frames are scaled down before decoding: faster, and enough for a code
  var stream = null;
  var starting = false;
  var detector = null;
  var canvas = null;
  var context = null;
  var frameTimer = null;

  function cameraMessage(text) { cameraStatus.textContent = text; }

  function chooseDetector() {
    // The browser's own decoder where it has one (Android, macOS); jsQR everywhere else.
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }).catch(function () { return null; });
  }

  function decodeFrame() {
    var width = video.videoWidth;
    var height = video.videoHeight;
    if (!width || !height) return Promise.resolve(null);
    if (detector) {
      return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
    }
    var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    var w = Math.round(width * scale);
    var h = Math.round(height * scale);
    if (!canvas) {
      canvas = document.createElement("canvas");
      context = canvas.getContext("2d", { willReadFrequently: true });
    }
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    context.drawImage(video, 0, 0, w, h);
    var found = window.jsQR(context.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "attemptBoth" });
    return Promise.resolve(found ? found.data : null);
  }

  function nextFrame() {
    clearTimeout(frameTimer);
    frameTimer = stream ? setTimeout(readFrame, FRAME_MS) : null;
  }

  function readFrame() {
    frameTimer = null;
    if (!stream) return;
    if (video.readyState < 2) {
      nextFrame();
      return;
    }
    decodeFrame()
      .then(function (text) { if (text) scanned(text, "camera"); })
      .catch(function () {})
      .then(nextFrame);
  }

  function stopCamera() {
    clearTimeout(frameTimer);
    frameTimer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.srcObject = null;
    view.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
    root.removeAttribute("data-camera");
  }

  function startCamera() {
    if (stream || starting) return;
    var media = navigator.mediaDevices;
    if (!media || !media.getUserMedia) {
      cameraMessage(messages.camera_unavailable);
      return;
    }
    cameraMessage(messages.camera_starting);
    startButton.hidden = true;
    starting = true;
    Promise.all([
      media.getUserMedia({ audio: false, video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } } }),
      chooseDetector(),
    ])
      .then(function (got) {
        stream = got[0];
        detector = got[1];
        if (!detector && typeof window.jsQR !== "function") throw new Error("no decoder");
        video.srcObject = stream;
        view.hidden = false;
        stopButton.hidden = false;
        return video.play();
      })
      .then(function () {
        starting = false;
        root.setAttribute("data-camera", detector ? "native" : "jsqr");
        cameraMessage(messages.camera_on);
        nextFrame();
      })
      .catch(function (error) {
        starting = false;
        stopCamera();
        cameraMessage(error && error.name === "NotAllowedError" ? messages.camera_denied : messages.camera_unavailable);
      });
  }

  startButton.addEventListener("click", function () { startCamera(); input.focus(); });
  stopButton.addEventListener("click", function () { stopCamera(); input.focus(); });
  window.addEventListener("pagehide", stopCamera);

  // Where the camera was allowed before, start it at once; scans left from before are sent.
  if (navigator.permissions && navigator.permissions.query) {
    navigator.permissions.query({ name: "camera" }).then(function (status) {
      if (status.state === "granted") startCamera();
    }).catch(function () {});
  }
  pump();
})();
