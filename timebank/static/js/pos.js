// The counter (收银台): a cashier redeems a resident's points for goods. A USB scanner types
// into #pos-scan like a keyboard and presses Enter: a personal code (TBP.… phone, TBC.… card)
// identifies the resident, digits add goods by barcode; fingers tap the rest. All of it goes
// through the JSON API. A confirm carries one Idempotency-Key per cart, the same one on every
// retry: when the network drops mid-confirm the cart freezes until it is retried, so a
// redemption the server did make is answered again, never made twice.
(function () {
  "use strict";
  var root = document.getElementById("pos");
  if (!root) return;

  var text = document.getElementById("pos-text").dataset;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var storeId = parseInt(root.getAttribute("data-store-id"), 10);
  var residentsUrl = root.getAttribute("data-residents-url");
  var lookupUrl = root.getAttribute("data-lookup-url");
  var goodsUrl = root.getAttribute("data-goods-url");
  var redemptionsUrl = root.getAttribute("data-redemptions-url");
  var receiptsUrl = root.getAttribute("data-receipts-url");
  var timeZone = root.getAttribute("data-time-zone") || undefined;
  var lang = document.documentElement.lang || undefined;

  var CODE_RE = /^TB[PC]\.[0-9A-F]{16}\.[0-9]{1,12}\.[A-Z2-7]{26}$/;
  var BARCODE_RE = /^[0-9]{8,14}$/;
  var PHONE_RE = /^1[0-9]{10}$/;
  var REQUEST_TIMEOUT_MS = 15000;
  var PAGE_SIZE = 100; // the API's largest page

  function $(id) { return document.getElementById(id); }

  var message = $("pos-message");
  var work = $("pos-work");
  var scanForm = $("pos-scan-form");
  var scanInput = $("pos-scan");
  var searchForm = $("pos-search-form");
  var searchInput = $("pos-search");
  var results = $("pos-results");
  var residentBox = $("pos-resident");
  var noResident = $("pos-no-resident");
  var who = $("pos-who");
  var residentName = $("pos-resident-name");
  var residentPhone = $("pos-resident-phone");
  var difficultyBadge = $("pos-difficulty");
  var balanceOut = $("pos-balance");
  var grid = $("pos-goods");
  var noGoods = $("pos-no-goods");
  var cartList = $("pos-cart");
  var cartEmpty = $("pos-cart-empty");
  var totalOut = $("pos-total");
  var afterOut = $("pos-after");
  var confirmButton = $("pos-confirm");
  var clearButton = $("pos-clear");
  var changeResident = $("pos-change-resident");
  var receiptBox = $("pos-receipt");

  // State

  var goods = {};       // id → goods as the API describes them (active ones only)
  var goodsOrder = [];  // ids in shelf order
  var resident = null;  // the resident at the counter, as GET residents/{id} answers
  var allowances = {};  // goods id → units left this period (absent: no limit)
  var cart = [];        // [{id, name, quantity}] in the order scanned
  var key = null;       // this cart's Idempotency-Key, made at its first confirm
  var sent = null;      // the confirm on its way or unanswered: a retry resends exactly it
  var pending = false;  // a confirm went unanswered: the cart is frozen until retried
  var busy = false;     // a confirm is on its way
  var receipt = null;   // the redemption just made, on screen until "Next resident"
  var lookup = 0;       // the latest resident lookup; older answers are dropped

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : all;
    });
  }

  function number(n) {
    try { return Number(n).toLocaleString(lang); } catch (e) { return String(n); }
  }

  function show(tone, words, code) {
    message.setAttribute("data-tone", tone);
    message.setAttribute("data-code", code || "");
    message.textContent = words;
  }

  // While a confirm is out, or went unanswered, the resident and the cart stay as they were
  // sent: a retry must carry the same request under the same key.
  function locked() {
    if (busy) show("info", text.confirming, "confirming");
    else if (pending) show("error", text.locked, "locked");
    return busy || pending;
  }

  function focusScan() {
    if (document.activeElement !== searchInput) scanInput.focus();
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return "pos-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // The API

  function Offline() {}

  function api(method, url, body, headers) {
    var sent = { Accept: "application/json", "X-CSRFToken": csrf };
    if (body !== undefined) sent["Content-Type"] = "application/json";
    Object.keys(headers || {}).forEach(function (name) { sent[name] = headers[name]; });
    var options = { method: method, credentials: "same-origin", cache: "no-store", headers: sent };
    if (body !== undefined) options.body = JSON.stringify(body);
    if (window.AbortSignal && AbortSignal.timeout) options.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    return fetch(url, options).then(
      function (response) {
        // Every answer of the API is JSON: a success without its body is an answer lost.
        return response.json().catch(function () {
          if (response.ok) throw new Offline();
          return null;
        }).then(function (data) {
          return { status: response.status, body: data || {}, redirected: response.redirected };
        });
      },
      function () { throw new Offline(); }
    );
  }

  function ok(answer) { return answer.status >= 200 && answer.status < 300 && !answer.redirected; }

  function errorCode(answer) { return ((answer.body || {}).error || {}).code || ""; }

  // The server's own translated words, or ours when it could not say anything.
  function errorText(answer) {
    var error = (answer.body || {}).error || {};
    if (answer.status === 401 || answer.redirected || error.code === "csrf_failed") return text.signedOut;
    return error.message || format(text.httpError, { status: answer.status });
  }

  function failed(reason) {
    if (reason instanceof Offline) show("error", text.offline, "offline");
    else throw reason;
  }

  function withQuery(url, params) {
    var parts = Object.keys(params).map(function (name) {
      return encodeURIComponent(name) + "=" + encodeURIComponent(params[name]);
    });
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + parts.join("&");
  }

  // Goods

  function fromButton(button) {
    var limit = button.getAttribute("data-limit-quantity");
    return {
      id: parseInt(button.getAttribute("data-goods-id"), 10),
      name: button.getAttribute("data-name"),
      unit: button.getAttribute("data-unit") || "",
      barcode: button.getAttribute("data-barcode") || null,
      points_price: parseInt(button.getAttribute("data-price"), 10),
      stock: parseInt(button.getAttribute("data-stock"), 10),
      limit_quantity: limit ? parseInt(limit, 10) : null,
      limit_period: button.getAttribute("data-limit-period") || null,
      eligibility: button.getAttribute("data-eligibility") || "everyone",
      active: true,
    };
  }

  function setGoods(items) {
    goods = {};
    goodsOrder = [];
    items.forEach(function (item) {
      if (item.active === false) return;
      goods[item.id] = item;
      goodsOrder.push(item.id);
    });
  }

  function byBarcode(barcode) {
    for (var i = 0; i < goodsOrder.length; i++) {
      if (goods[goodsOrder[i]].barcode === barcode) return goods[goodsOrder[i]];
    }
    return null;
  }

  function periodLabel(period) {
    var name = "period" + String(period || "").charAt(0).toUpperCase() + String(period || "").slice(1);
    return text[name] || period || "";
  }

  function limitText(item) {
    return format(text.limit, { n: item.limit_quantity, period: periodLabel(item.limit_period) });
  }

  function span(className, words) {
    var node = document.createElement("span");
    node.className = className;
    node.textContent = words;
    return node;
  }

  // The same button the page renders, for goods fetched again.
  function goodsButton(item) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "pos-goods-button";
    button.setAttribute("data-goods-id", item.id);
    button.setAttribute("data-name", item.name);
    button.setAttribute("data-unit", item.unit || "");
    button.setAttribute("data-barcode", item.barcode || "");
    button.setAttribute("data-price", item.points_price);
    button.setAttribute("data-stock", item.stock);
    button.setAttribute("data-limit-quantity", item.limit_quantity || "");
    button.setAttribute("data-limit-period", item.limit_period || "");
    button.setAttribute("data-eligibility", item.eligibility || "everyone");
    button.appendChild(span("pos-goods-name", item.name));
    button.appendChild(span("pos-goods-price", format(text.points, { n: item.points_price })));
    button.appendChild(span("pos-goods-stock", format(text.stock, { n: item.stock }) + (item.unit ? " " + item.unit : "")));
    if (item.limit_quantity) button.appendChild(span("pos-goods-limit", limitText(item)));
    if (item.eligibility === "difficulty") button.appendChild(span("badge pos-goods-difficulty", text.difficultyBadge));
    return button;
  }

  function renderGoods() {
    var fragment = document.createDocumentFragment();
    goodsOrder.forEach(function (id) { fragment.appendChild(goodsButton(goods[id])); });
    grid.textContent = "";
    grid.appendChild(fragment);
    noGoods.hidden = goodsOrder.length > 0;
    render();
  }

  // Every page of the store's goods; the stock on the buttons follows.
  function refreshGoods() {
    var collected = [];
    function page(n) {
      return api("GET", withQuery(goodsUrl, { per_page: PAGE_SIZE, page: n })).then(function (answer) {
        if (!ok(answer)) return null;
        collected = collected.concat(answer.body.items || []);
        if ((answer.body.items || []).length === PAGE_SIZE && collected.length < (answer.body.total || 0)) return page(n + 1);
        return collected;
      });
    }
    return page(1).then(
      function (items) {
        if (items) { setGoods(items); renderGoods(); }
        return !!items;
      },
      function () { return false; }
    );
  }

  // The resident

  function setResident(data) {
    resident = data;
    allowances = {};
    if (data) {
      (data.allowances || []).forEach(function (a) {
        if (a.left !== null && a.left !== undefined) allowances[a.goods_id] = a.left;
      });
    }
  }

  // The ticket comes from the lookup (code or search): the server serves this person at this
  // counter only with it.
  function loadResident(userId, ticket, announce) {
    var mine = ++lookup;
    show("info", text.loading, "loading");
    var url = withQuery(residentsUrl + "/" + encodeURIComponent(userId), { ticket: ticket || "" });
    return api("GET", url).then(function (answer) {
      // A confirm started meanwhile owns the resident until it is answered.
      if (mine !== lookup || busy || pending) return;
      if (!ok(answer)) {
        show("error", errorText(answer), errorCode(answer));
        return;
      }
      if (!resident || resident.user_id !== answer.body.user_id) key = null; // another request
      setResident(answer.body);
      render();
      if (announce) {
        var problem = cartProblem();
        if (problem) show("error", problem.words, problem.code);
        else show("ok", format(text.identified, { name: answer.body.name }), "identified");
      }
    }).catch(failed);
  }

  function identify(code) {
    if (locked()) return;
    results.hidden = true;
    var mine = ++lookup;
    show("info", text.loading, "loading");
    api("POST", lookupUrl, { code: code }).then(function (answer) {
      if (mine !== lookup) return;
      var items = ok(answer) ? answer.body.items || [] : [];
      if (!items.length) {
        show("error", ok(answer) ? text.nobody : errorText(answer), errorCode(answer) || "nobody");
        return;
      }
      return loadResident(items[0].user_id, items[0].ticket, true);
    }).catch(failed);
  }

  function search(q) {
    if (locked()) return;
    show("info", text.searching, "searching");
    var mine = ++lookup;
    api("POST", lookupUrl, { q: q }).then(function (answer) {
      if (mine !== lookup) return;
      if (!ok(answer)) {
        results.hidden = true;
        show("error", errorText(answer), errorCode(answer));
        return;
      }
      var items = answer.body.items || [];
      results.textContent = "";
      items.forEach(function (item) {
        var entry = document.createElement("li");
        var pick = document.createElement("button");
        pick.type = "button";
        pick.className = "pos-result";
        pick.setAttribute("data-user-id", item.user_id);
        pick.setAttribute("data-ticket", item.ticket || "");
        pick.appendChild(span("pos-result-name", item.name));
        pick.appendChild(span("pos-result-phone muted", item.phone || ""));
        entry.appendChild(pick);
        results.appendChild(entry);
      });
      results.hidden = items.length === 0;
      if (items.length) show("info", text.found, "found");
      else show("error", text.nobody, "nobody");
    }).catch(failed);
  }

  results.addEventListener("click", function (event) {
    var pick = event.target.closest(".pos-result");
    if (!pick) return;
    if (locked()) return;
    results.hidden = true;
    results.textContent = "";
    searchInput.value = "";
    loadResident(parseInt(pick.getAttribute("data-user-id"), 10), pick.getAttribute("data-ticket"), true);
    scanInput.focus();
  });

  // The cart

  function lineOf(id) {
    for (var i = 0; i < cart.length; i++) if (cart[i].id === id) return cart[i];
    return null;
  }

  function inCart(id) {
    var line = lineOf(id);
    return line ? line.quantity : 0;
  }

  function total() {
    return cart.reduce(function (sum, line) {
      var item = goods[line.id];
      return sum + (item ? item.points_price * line.quantity : 0);
    }, 0);
  }

  // Why a line may not be redeemed as it is, or null.
  function lineProblem(line) {
    var item = goods[line.id];
    if (!item) return { code: "goods_inactive", words: format(text.outOfStock, { goods: line.name }) };
    if (line.quantity > item.stock) {
      return item.stock > 0
        ? { code: "out_of_stock", words: format(text.stockLeft, { n: item.stock, goods: item.name }) }
        : { code: "out_of_stock", words: format(text.outOfStock, { goods: item.name }) };
    }
    if (resident && item.eligibility === "difficulty" && !resident.in_difficulty) {
      return { code: "not_eligible", words: format(text.difficultyOnly, { goods: item.name }) };
    }
    if (resident && allowances.hasOwnProperty(item.id) && line.quantity > allowances[item.id]) {
      return { code: "over_limit", words: format(text.overLimit, { goods: item.name, left: allowances[item.id] }) };
    }
    return null;
  }

  function cartProblem() {
    for (var i = 0; i < cart.length; i++) {
      var problem = lineProblem(cart[i]);
      if (problem) return problem;
    }
    if (resident && total() > resident.points_balance) {
      return { code: "insufficient_points", words: format(text.notEnough, { total: total(), balance: resident.points_balance }) };
    }
    return null;
  }

  function changed() {
    key = null; // a different cart is a different request
  }

  function add(id, quantity) {
    if (locked()) return;
    var item = goods[id];
    if (!item) return;
    var line = lineOf(id);
    var wanted = (line ? line.quantity : 0) + quantity;
    var trial = { id: id, name: item.name, quantity: wanted };
    var problem = lineProblem(trial);
    if (problem) {
      show("error", problem.words, problem.code);
      return;
    }
    if (line) line.quantity = wanted;
    else cart.push(trial);
    changed();
    show("ok", format(text.added, { goods: item.name }), "added");
    render();
  }

  function setQuantity(id, quantity) {
    if (locked()) return;
    var line = lineOf(id);
    if (!line) return;
    if (quantity > line.quantity) {
      add(id, quantity - line.quantity);
      return;
    }
    if (quantity <= 0) cart = cart.filter(function (l) { return l.id !== id; });
    else line.quantity = quantity;
    changed();
    render();
  }

  function addByBarcode(barcode) {
    var item = byBarcode(barcode);
    if (item) { add(item.id, 1); return; }
    // Goods added since the page opened, or an 11-digit mobile number typed at the scanner.
    refreshGoods().then(function (fresh) {
      var found = byBarcode(barcode);
      if (found) add(found.id, 1);
      else if (PHONE_RE.test(barcode)) search(barcode);
      else if (!fresh) show("error", text.offline, "offline");
      else show("error", format(text.unknownBarcode, { barcode: barcode }), "unknown_barcode");
    });
  }

  function cartLine(line) {
    var item = goods[line.id];
    var entry = document.createElement("li");
    entry.className = "pos-line";
    entry.setAttribute("data-goods-id", line.id);
    entry.setAttribute("data-quantity", line.quantity);
    var what = document.createElement("div");
    what.className = "pos-line-what";
    what.appendChild(span("pos-line-name", line.name));
    if (item) what.appendChild(span("pos-line-price muted", format(text.each, { n: number(item.points_price) })));
    if (item && item.limit_quantity) {
      var limit = limitText(item);
      if (resident && allowances.hasOwnProperty(item.id)) limit += " · " + format(text.left, { left: allowances[item.id] });
      what.appendChild(span("pos-line-limit", limit));
    }
    var problem = lineProblem(line);
    if (problem) {
      entry.classList.add("has-problem");
      what.appendChild(span("pos-line-problem error", problem.words));
    }
    var controls = document.createElement("div");
    controls.className = "pos-line-controls";
    [["dec", "−", text.less], ["qty"], ["inc", "+", text.more], ["remove", "×", text.remove]].forEach(function (spec) {
      if (spec[0] === "qty") {
        controls.appendChild(span("pos-qty", String(line.quantity)));
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button pos-" + spec[0];
      button.setAttribute("data-action", spec[0]);
      button.setAttribute("aria-label", spec[2] + " · " + line.name);
      button.textContent = spec[1];
      button.disabled = pending || busy || (spec[0] === "inc" && item && line.quantity >= item.stock);
      controls.appendChild(button);
    });
    var points = span("pos-line-points", item ? number(item.points_price * line.quantity) : "–");
    entry.appendChild(what);
    entry.appendChild(controls);
    entry.appendChild(points);
    return entry;
  }

  cartList.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    var id = parseInt(button.closest(".pos-line").getAttribute("data-goods-id"), 10);
    var action = button.getAttribute("data-action");
    if (action === "inc") setQuantity(id, inCart(id) + 1);
    else if (action === "dec") setQuantity(id, inCart(id) - 1);
    else setQuantity(id, 0);
    scanInput.focus();
  });

  grid.addEventListener("click", function (event) {
    var button = event.target.closest(".pos-goods-button");
    if (!button || button.disabled) return;
    add(parseInt(button.getAttribute("data-goods-id"), 10), 1);
    scanInput.focus();
  });

  // What the cashier sees

  function render() {
    var state = receipt ? "receipt" : busy ? "confirming" : pending ? "pending" : "ready";
    root.setAttribute("data-state", state);

    residentBox.setAttribute("data-user-id", resident ? resident.user_id : "");
    residentBox.setAttribute("data-balance", resident ? resident.points_balance : "");
    residentBox.setAttribute("data-difficulty", resident && resident.in_difficulty ? "true" : "false");
    noResident.hidden = !!resident;
    who.hidden = !resident;
    if (resident) {
      residentName.textContent = resident.name;
      residentPhone.textContent = resident.phone || "";
      difficultyBadge.hidden = !resident.in_difficulty;
      balanceOut.textContent = number(resident.points_balance);
      balanceOut.setAttribute("data-points", resident.points_balance);
    }

    var fragment = document.createDocumentFragment();
    cart.forEach(function (line) { fragment.appendChild(cartLine(line)); });
    cartList.textContent = "";
    cartList.appendChild(fragment);
    cartEmpty.hidden = cart.length > 0;

    var sum = total();
    totalOut.textContent = number(sum);
    totalOut.setAttribute("data-points", sum);
    if (resident) {
      var after = resident.points_balance - sum;
      afterOut.textContent = number(after);
      afterOut.setAttribute("data-points", after);
      afterOut.classList.toggle("negative", after < 0);
    } else {
      afterOut.textContent = "–";
      afterOut.setAttribute("data-points", "");
      afterOut.classList.remove("negative");
    }

    Array.prototype.forEach.call(grid.querySelectorAll(".pos-goods-button"), function (button) {
      var item = goods[parseInt(button.getAttribute("data-goods-id"), 10)];
      button.disabled = !item || item.stock <= 0 || pending || busy;
      button.classList.toggle("in-cart", !!item && inCart(item.id) > 0);
    });

    confirmButton.textContent = pending ? text.retry : text.confirm;
    confirmButton.disabled = busy || !cart.length || !resident || (!pending && !!cartProblem());
    clearButton.disabled = busy || !cart.length;
    changeResident.disabled = busy || pending;
  }

  // Confirming, and the receipt

  function confirmCart() {
    if (busy) return;
    if (!resident) { show("error", text.needResident, "need_resident"); return; }
    if (!cart.length) { show("error", text.cartEmpty, "cart_empty"); return; }
    var problem = pending ? null : cartProblem();
    if (problem) { show("error", problem.words, problem.code); return; }
    if (!pending || !sent) {
      if (!key) key = newKey();
      sent = {
        key: key,
        body: {
          store_id: storeId,
          user_id: resident.user_id,
          ticket: resident.ticket,
          lines: cart.map(function (line) { return { goods_id: line.id, quantity: line.quantity }; }),
        },
      };
    }
    lookup++; // answers to lookups still on their way are dropped: they cannot switch resident
    busy = true;
    show("info", text.confirming, "confirming");
    render();
    api("POST", redemptionsUrl, sent.body, { "Idempotency-Key": sent.key }).then(
      function (answer) {
        busy = false;
        if (ok(answer)) {
          pending = false;
          sent = null;
          showReceipt(answer.body, answer.status === 200);
          return;
        }
        if (answer.status === 408 || answer.status >= 500) {
          // Perhaps made, perhaps not: only a retry with the same key can tell.
          pending = true;
          show("error", text.uncertain, "uncertain");
          render();
          return;
        }
        // Refused. A refusal of the redemption itself (limits, points, stock...) comes after
        // the server looked the key up, so an earlier unanswered confirm was not made either;
        // a refusal at the door (signed out, too many requests) says nothing about it.
        var code = errorCode(answer);
        if (answer.status === 409 || answer.status === 422 || (answer.status === 400 && code !== "csrf_failed")) {
          pending = false;
          sent = null;
        }
        if (code === "idempotency_conflict") key = null;
        show("error", errorText(answer), errorCode(answer));
        render();
        refreshGoods();
        if (resident && answer.status !== 401 && !answer.redirected) {
          loadResident(resident.user_id, resident.ticket, false).then(function () {
            show("error", errorText(answer), errorCode(answer));
          });
        }
      },
      function () {
        busy = false;
        pending = true;
        show("error", text.uncertain, "uncertain");
        render();
      }
    );
  }

  function clock(iso) {
    if (!iso) return "";
    var when = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
    if (isNaN(when.getTime())) return "";
    var options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      return when.toLocaleString(lang, Object.assign({ timeZone: timeZone }, options));
    } catch (e) {
      return when.toLocaleString(lang, options);
    }
  }

  function cell(tag, words, className) {
    var node = document.createElement(tag);
    node.textContent = words;
    if (className) node.className = className;
    return node;
  }

  function showReceipt(redemption, replayed) {
    receipt = redemption;
    var name = resident ? resident.name : "";
    $("pos-receipt-serial").textContent = redemption.serial || "";
    var time = $("pos-receipt-time");
    time.textContent = clock(redemption.created_at);
    if (redemption.created_at) time.setAttribute("datetime", redemption.created_at);
    $("pos-receipt-resident").textContent = name;
    var lines = $("pos-receipt-lines");
    lines.textContent = "";
    (redemption.lines || []).forEach(function (line) {
      var row = document.createElement("tr");
      row.setAttribute("data-goods-id", line.goods_id);
      row.appendChild(cell("td", line.goods));
      row.appendChild(cell("td", number(line.quantity) + (line.unit ? " " + line.unit : ""), "num"));
      row.appendChild(cell("td", number(line.points), "num"));
      lines.appendChild(row);
    });
    var totalCell = $("pos-receipt-total");
    totalCell.textContent = number(redemption.points);
    totalCell.setAttribute("data-points", redemption.points);
    var link = $("pos-receipt-link");
    if (redemption.id) link.setAttribute("href", receiptsUrl.replace(/\/$/, "") + "/" + redemption.id);
    receiptBox.setAttribute("data-serial", redemption.serial || "");
    receiptBox.setAttribute("data-replayed", replayed ? "true" : "false");
    setBalance(redemption.balance);
    if (redemption.balance === null || redemption.balance === undefined) {
      // A replayed confirm does not say the balance after it; the account does.
      if (resident) loadResident(resident.user_id, resident.ticket, false).then(function () {
        if (receipt === redemption && resident) setBalance(resident.points_balance);
        show("ok", replayed ? text.replayed : format(text.redeemed, { serial: redemption.serial }), replayed ? "replayed" : "redeemed");
      });
    } else if (resident) {
      resident.points_balance = redemption.balance;
    }
    work.hidden = true;
    receiptBox.hidden = false;
    show("ok", replayed ? text.replayed : format(text.redeemed, { serial: redemption.serial }), replayed ? "replayed" : "redeemed");
    render();
    refreshGoods();
    $("pos-next").focus();
  }

  function setBalance(balance) {
    var out = $("pos-receipt-balance");
    var known = balance !== null && balance !== undefined;
    out.textContent = known ? number(balance) : "–";
    out.setAttribute("data-points", known ? balance : "");
  }

  function reset() {
    lookup++;
    resident = null;
    allowances = {};
    cart = [];
    key = null;
    pending = false;
    receipt = null;
    results.hidden = true;
    results.textContent = "";
    searchInput.value = "";
    scanInput.value = "";
    receiptBox.hidden = true;
    work.hidden = false;
    show("info", text.ready, "ready");
    render();
    scanInput.focus();
  }

  function discardable() {
    return !pending || window.confirm(text.discard);
  }

  confirmButton.addEventListener("click", function () { confirmCart(); scanInput.focus(); });
  clearButton.addEventListener("click", function () {
    if (!discardable()) return;
    cart = [];
    key = null;
    pending = false;
    show("info", text.ready, "ready");
    render();
    scanInput.focus();
  });
  changeResident.addEventListener("click", function () {
    if (locked()) return;
    lookup++;
    setResident(null);
    key = null;
    show("info", text.ready, "ready");
    render();
    scanInput.focus();
  });
  $("pos-print").addEventListener("click", function () { window.print(); });
  $("pos-next").addEventListener("click", reset);

  // What was typed or scanned

  function clean(raw) {
    var value = String(raw || "");
    if (value.normalize) value = value.normalize("NFKC"); // full-width characters from an IME
    return value.trim();
  }

  function entered(raw, from) {
    var value = clean(raw);
    if (!value) return;
    var upper = value.toUpperCase();
    var code = CODE_RE.test(upper);
    // A barcode scanned while the search box had the focus is still a barcode.
    var barcode = BARCODE_RE.test(value) && !(from === "search" && PHONE_RE.test(value));
    if (receipt && (code || barcode || from === "search")) reset(); // the next resident is here
    if ((code || barcode) && from === "search") searchInput.value = "";
    if (code) identify(upper);
    else if (barcode) addByBarcode(value);
    else if (from === "search") search(value);
    else show("error", format(text.notUnderstood, { value: value }), "not_understood");
  }

  scanForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = scanInput.value;
    scanInput.value = "";
    entered(value, "scan");
    scanInput.focus();
  });

  searchForm.addEventListener("submit", function (event) {
    event.preventDefault();
    entered(searchInput.value, "search");
  });

  // A scanner types wherever the focus is: bring stray keys back to the scan input.
  document.addEventListener("keydown", function (event) {
    var active = document.activeElement;
    var typing = active && (active.tagName === "TEXTAREA" || active.tagName === "SELECT" ||
      (active.tagName === "INPUT" && /^(text|search|tel|password|number)$/.test(active.type)));
    if (!typing && event.key && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) scanInput.focus();
  });

  // Leaving with a cart that may have been redeemed deserves a second thought.
  window.addEventListener("beforeunload", function (event) {
    if (pending || busy) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  setGoods(Array.prototype.map.call(grid.querySelectorAll(".pos-goods-button"), fromButton));
  render();
  focusScan();
})();
