/* Docket annotator pages: keyboard shortcuts, the time-spent timer, ranking
 * by keys or drag. Everything here is an enhancement: the forms post and the
 * pages work without it. Served from static/ (CSP script-src 'self'). */
(function () {
  "use strict";

  // --- time spent on the current item -------------------------------------
  let currentAssignment = null;
  let startedAt = performance.now();
  let hiddenSince = null;
  let hiddenTotal = 0;

  function itemEl() {
    return document.getElementById("item");
  }

  function resetTimerIfNewItem() {
    const item = itemEl();
    const assignment = item ? item.dataset.assignment || null : null;
    if (assignment !== currentAssignment) {
      currentAssignment = assignment;
      startedAt = performance.now();
      hiddenTotal = 0;
      hiddenSince = document.hidden ? performance.now() : null;
    }
  }

  function elapsedMs() {
    const now = performance.now();
    const hidden = hiddenTotal + (hiddenSince !== null ? now - hiddenSince : 0);
    return Math.max(0, Math.round(now - startedAt - hidden));
  }

  document.addEventListener("visibilitychange", function () {
    // Time with the tab in the background is not time spent on the item.
    if (document.hidden) {
      hiddenSince = performance.now();
    } else if (hiddenSince !== null) {
      hiddenTotal += performance.now() - hiddenSince;
      hiddenSince = null;
    }
  });

  // Capture phase: runs before htmx reads the form's values.
  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      if (form && form.elements && form.elements.time_spent_ms) {
        form.elements.time_spent_ms.value = String(elapsedMs());
      }
      if (form && form.classList && form.classList.contains("submit-form")) {
        syncRanking(form);
      }
    },
    true,
  );

  // --- ranking ------------------------------------------------------------
  let pendingResponse = null; // a rank card chosen by its number key

  function rankCards(root) {
    return Array.from((root || document).querySelectorAll(".rank-card"));
  }

  function rankInput(card) {
    return card.querySelector("input[type='number']");
  }

  // The hidden `ranking` field: JSON groups of response uuids, best first.
  // Left empty until every response has a rank (the server then names what
  // is missing from the rank_<uuid> fields).
  function syncRanking(form) {
    const hidden = form.querySelector("input[name='ranking']");
    if (!hidden) return;
    const byRank = new Map();
    for (const card of rankCards(form)) {
      const value = parseInt(rankInput(card).value, 10);
      if (!Number.isFinite(value)) {
        hidden.value = "";
        markRanks(form);
        return;
      }
      if (!byRank.has(value)) byRank.set(value, []);
      byRank.get(value).push(card.dataset.response);
    }
    const ranks = Array.from(byRank.keys()).sort(function (a, b) {
      return a - b;
    });
    hidden.value = JSON.stringify(
      ranks.map(function (r) {
        return byRank.get(r);
      }),
    );
    markRanks(form);
  }

  function markRanks(form) {
    for (const card of rankCards(form)) {
      card.dataset.rank = rankInput(card).value || "";
    }
    reorderCards(form);
  }

  // The cards stand in rank order as ranks are given (typed, by keys, or
  // dragged): ranked ones first, best on top, ties and unranked ones in
  // their original order. The focus stays where it was (moving a node
  // would drop it).
  function reorderCards(form) {
    const cards = rankCards(form);
    if (cards.length < 2 || dragged) return;
    const list = cards[0].parentNode;
    function key(card) {
      const rank = parseInt(rankInput(card).value, 10);
      return [Number.isFinite(rank) ? rank : Infinity, parseInt(card.dataset.index, 10) || 0];
    }
    const sorted = cards.slice().sort(function (a, b) {
      const ka = key(a);
      const kb = key(b);
      return ka[0] - kb[0] || ka[1] - kb[1];
    });
    if (sorted.every(function (card, i) { return card === cards[i]; })) return;
    const focused = document.activeElement;
    for (const card of sorted) list.appendChild(card);
    if (focused && list.contains(focused) && document.activeElement !== focused) {
      focused.focus({ preventScroll: true });
    }
  }

  function setRank(card, rank) {
    rankInput(card).value = String(rank);
    const form = card.closest("form");
    if (form) syncRanking(form);
  }

  function choosePending(card) {
    for (const other of rankCards()) other.classList.remove("pending");
    pendingResponse = card;
    if (card) card.classList.add("pending");
  }

  let dragged = null;
  document.addEventListener("dragstart", function (event) {
    const card = event.target.closest && event.target.closest(".rank-card");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.response);
  });
  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    const card = event.target.closest && event.target.closest(".rank-card");
    if (!card || card === dragged) return;
    event.preventDefault();
    const box = card.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    card.parentNode.insertBefore(dragged, after ? card.nextSibling : card);
  });
  document.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    const list = dragged.parentNode;
    dragged.classList.remove("dragging");
    dragged = null;
    // The order on screen is the ranking (no ties when dragging).
    rankCards(list).forEach(function (card, i) {
      rankInput(card).value = String(i + 1);
    });
    const form = list.closest("form");
    if (form) syncRanking(form);
  });
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest(".rank-card")) {
      const form = event.target.closest("form");
      if (form) syncRanking(form);
    }
  });

  // --- keyboard -----------------------------------------------------------
  function isTyping(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") {
      const type = (el.type || "text").toLowerCase();
      return !["radio", "checkbox", "button", "submit", "reset"].includes(type);
    }
    return false;
  }

  function check(form, name, value) {
    const input = form.querySelector(
      "input[name='" + name + "'][value='" + value + "']",
    );
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function submit(form) {
    if (!form || form.classList.contains("htmx-request")) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  }

  document.addEventListener("keydown", function (event) {
    const item = itemEl();
    if (!item || !item.dataset.assignment) return;
    const form = item.querySelector("form.submit-form");
    const skipForm = item.querySelector("form.skip-form");
    if (!form) return;

    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit(form);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) {
      // Esc leaves a text box, so the other shortcuts work again.
      if (event.key === "Escape") event.target.blur();
      return;
    }

    const kind = item.dataset.kind;
    const key = event.key;
    let handled = false;

    // Custom questions: q / Shift+Q move the keyboard into the next / previous
    // question; inside one, its keys (digits, letters, arrows) answer it and
    // Esc leaves it (then the item's own keys work again).
    if (key === "q" || key === "Q") {
      moveQuestion(item, event.shiftKey ? -1 : 1);
      event.preventDefault();
      return;
    }
    const stop = activeStop(item);
    if (stop) {
      if (key === "Escape") {
        setActiveStop(item, null);
        handled = true;
      } else {
        handled = answerKey(stop, key);
      }
      if (handled) {
        event.preventDefault();
        return;
      }
    }

    const focusTarget = { c: "critique", r: "rationale" }[key];
    if (focusTarget && form.elements[focusTarget]) {
      form.elements[focusTarget].focus();
      handled = true;
    } else if (key === "Escape" && pendingResponse) {
      choosePending(null);
      handled = true;
    } else if (key === "s" || key === "S" || key === "Escape") {
      submit(skipForm);
      handled = true;
    } else if (kind === "pairwise") {
      const digit = /^Digit([0-3])$/.exec(event.code || "");
      if (event.shiftKey && digit) {
        handled = check(form, "strength", digit[1] === "0" ? "" : digit[1]);
      } else if (!event.shiftKey) {
        const choice = { 1: "left", 2: "right", t: "tie", b: "both_bad" }[key.toLowerCase()];
        if (choice) handled = check(form, "choice", choice);
      }
    } else if (kind === "thumb") {
      if (key === "ArrowUp") handled = check(form, "choice", "up");
      else if (key === "ArrowDown") handled = check(form, "choice", "down");
    } else if (kind === "ranking" && /^[1-9]$/.test(key)) {
      const n = parseInt(key, 10);
      const cards = rankCards(form);
      if (pendingResponse && n <= cards.length) {
        setRank(pendingResponse, n);
        choosePending(null);
        handled = true;
      } else {
        const card = cards.find(function (c) {
          return c.dataset.index === String(n);
        });
        if (card) {
          choosePending(card);
          handled = true;
        }
      }
    }
    if (handled) event.preventDefault();
  });

  // --- custom questions ---------------------------------------------------
  function questionStops(item) {
    return Array.from(item.querySelectorAll("[data-qstop]"));
  }

  function activeStop(item) {
    return item.querySelector("[data-qstop].active");
  }

  function setActiveStop(item, stop) {
    for (const other of questionStops(item)) other.classList.remove("active");
    if (!stop) return;
    stop.classList.add("active");
    stop.scrollIntoView({ block: "nearest" });
    const box = stop.querySelector("textarea");
    if (box) box.focus();
  }

  function moveQuestion(item, step) {
    const stops = questionStops(item);
    if (!stops.length) return;
    const index = stops.indexOf(activeStop(item));
    const next = index + step;
    if (index === -1) setActiveStop(item, step > 0 ? stops[0] : stops[stops.length - 1]);
    else setActiveStop(item, next >= 0 && next < stops.length ? stops[next] : null);
  }

  function answerKey(stop, key) {
    const type = stop.dataset.type;
    const inputs = Array.from(stop.querySelectorAll("input"));
    if (type === "multi_label" && /^[a-z]$/.test(key)) {
      const box = inputs.find(function (i) { return i.dataset.key === key; });
      if (!box) return true; // a letter with no label: nothing (not the item's own shortcut)
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }
    if ((type === "single_choice" || type === "rating") && /^[0-9]$/.test(key)) {
      const radio = inputs.find(function (i) { return i.dataset.key === key; });
      if (!radio) return true; // a digit with no option: nothing
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }
    if (type === "rating" && (key === "ArrowLeft" || key === "ArrowRight")) {
      const at = inputs.findIndex(function (i) { return i.checked; });
      let next;
      if (at === -1) next = key === "ArrowRight" ? 0 : inputs.length - 1;
      else next = Math.min(Math.max(at + (key === "ArrowRight" ? 1 : -1), 0), inputs.length - 1);
      inputs[next].checked = true;
      inputs[next].dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }
    return false;
  }

  // --- after each swap ----------------------------------------------------
  function onNewContent() {
    resetTimerIfNewItem();
    // A response picked with its number key between the swap and this settle
    // (a fast typist) is already on the new card: keep it. One picked on the
    // old content is gone with it.
    if (pendingResponse && !document.contains(pendingResponse)) pendingResponse = null;
    const form = document.querySelector("#item form.submit-form");
    if (form) syncRanking(form);
  }

  // Where the keyboard starts on a new item: the item itself, for every kind.
  // Never a text box: a judgment's critique box once took the focus by
  // itself, and the "c" an annotator pressed to start writing (the shortcut)
  // went into it as text ("cThe answer..."), as did s, t, 1, 2. The shortcuts
  // (c: critique, r: rationale) take the keyboard into a box; Esc leaves it.
  function focusItem() {
    const item = itemEl();
    if (!item) return;
    if (!isTyping(document.activeElement)) item.focus({ preventScroll: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    onNewContent();
    focusItem();
  });
  document.addEventListener("htmx:afterSettle", function () {
    const before = currentAssignment;
    onNewContent();
    // Keyboard focus goes to the new item, not to a button that is gone.
    if (currentAssignment !== before) focusItem();
  });

  // --- when a request goes wrong ------------------------------------------
  function flash(text) {
    const item = itemEl();
    if (!item) return;
    let box = item.querySelector(".flash-client");
    if (!box) {
      box = document.createElement("p");
      box.className = "flash flash-error flash-client";
      box.setAttribute("role", "alert");
      item.prepend(box);
    }
    box.textContent = text;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    // A session that ran out answers with the log-in page: go there for real
    // rather than swapping a whole page into the item.
    const url = event.detail.xhr && event.detail.xhr.responseURL;
    if (url && url.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.assign(url);
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr ? event.detail.xhr.status : "?";
    flash(
      status === 404
        ? "This item is no longer yours (404). Reload the page for the next one."
        : "The server could not take that (HTTP " + status + "). Nothing was lost: try again, or reload the page.",
    );
  });
  document.addEventListener("htmx:sendError", function () {
    // The idempotency key stays the same, so sending again cannot store twice.
    flash("Could not reach the server. Check your connection and submit again.");
  });

  // Remember whether the guidelines panel is open.
  let autoToggled = false;
  document.addEventListener(
    "toggle",
    function (event) {
      if (event.target.id === "guidelines") {
        if (autoToggled) {
          autoToggled = false; // our own default, not the annotator's choice
          return;
        }
        try {
          localStorage.setItem("docket.guidelines", event.target.open ? "open" : "closed");
        } catch (_e) {
          /* storage may be disabled */
        }
      }
    },
    true,
  );
  document.addEventListener("DOMContentLoaded", function () {
    const panel = document.getElementById("guidelines");
    if (!panel) return;
    try {
      const saved = localStorage.getItem("docket.guidelines");
      // Closed when asked, and by default on narrow screens (it sits above the item there).
      if (saved === "closed" || (!saved && window.matchMedia("(max-width: 900px)").matches)) {
        autoToggled = true;
        panel.open = false;
      }
    } catch (_e) {
      /* storage may be disabled */
    }
  });
})();
