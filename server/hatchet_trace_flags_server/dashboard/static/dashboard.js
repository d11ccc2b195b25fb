// hatchet-trace-flags dashboard: notices, dialogs and live updates on top of htmx.
// Everything here is an enhancement: the pages work as plain forms and links without it.
(function () {
  "use strict";

  const body = document.body;
  const me = body.dataset.actor || "";
  const notices = document.getElementById("notices");
  const liveStatus = document.getElementById("live-status");
  const revisionLabel = document.getElementById("rules-revision");
  // Revisions this page caused: their change events need no second notice.
  const ownRevisions = new Set();
  // Few notices at a time: a burst of changes must not bury the page.
  const NOTICE_LIMIT = 3;

  // ---------------------------------------------------------------- notices

  // Live changes share one notice that counts the rest, and a message already showing is replaced
  // rather than repeated, so notices never pile up.
  function notify(message, level) {
    if (!notices || !message) return;
    const kind = level || "info";
    let count = 1;
    for (const old of Array.from(notices.children)) {
      const sameLive = kind === "live" && old.dataset.level === "live";
      if (sameLive || old.dataset.message === message) {
        if (sameLive) count += Number(old.dataset.count || "1");
        old.remove();
      }
    }
    const earlier = count - 1;
    const shown = earlier ? message + " (and " + earlier + " earlier " + (earlier === 1 ? "change" : "changes") + ")" : message;
    const notice = document.createElement("div");
    notice.className = "notice notice-" + kind;
    notice.dataset.level = kind;
    notice.dataset.message = message;
    notice.dataset.count = String(count);
    const text = document.createElement("span");
    text.className = "notice-text";
    text.textContent = shown; // never HTML: action_ids and notes are user data
    const close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => notice.remove());
    notice.append(text, close);
    notices.append(notice);
    while (notices.children.length > NOTICE_LIMIT) notices.firstElementChild.remove();
    const lifetime = kind === "error" || kind === "warning" ? 12000 : 6000;
    setTimeout(() => notice.remove(), lifetime);
  }

  // ---------------------------------------------------------------- revision

  // The rules' revision only moves forward; events and responses may arrive out of order.
  function showRevision(value) {
    const revision = Number(value);
    if (!revisionLabel || !Number.isSafeInteger(revision)) return;
    if (revision <= Number(revisionLabel.dataset.revision || "0")) return;
    revisionLabel.dataset.revision = String(revision);
    const number = revisionLabel.querySelector("strong");
    if (number) number.textContent = String(revision);
  }

  // A notice the server rendered into the page (after a plain form post) fades like the others.
  for (const existing of notices ? Array.from(notices.children) : []) {
    setTimeout(() => existing.remove(), 8000);
  }

  body.addEventListener("htf-notice", (event) => notify(event.detail.message, event.detail.level));
  body.addEventListener("htf-refresh", (event) => {
    const regions = Array.isArray(event.detail.value) ? event.detail.value : [];
    regions.forEach((region) => scheduleRefresh(region));
  });

  // After a write of ours, a notice says how far it got: the service answers from the workers' reports
  // once a second until every worker applies it or 10 s passed (status 286 stops htmx's polling).
  function followReach(revision) {
    if (!notices || !window.htmx) return;
    for (const old of Array.from(notices.querySelectorAll(".notice-reach"))) old.remove();
    const notice = document.createElement("div");
    notice.className = "notice notice-info notice-reach";
    notice.dataset.level = "reach";
    notice.setAttribute("hx-get", "/ui/reach?revision=" + encodeURIComponent(revision));
    notice.setAttribute("hx-trigger", "load delay:300ms, every 1s");
    notice.setAttribute("hx-swap", "innerHTML");
    notice.textContent = "Rev " + revision + ": waiting for workers…";
    notice.addEventListener("htmx:afterRequest", (event) => {
      if (event.detail.xhr && event.detail.xhr.status === 286) setTimeout(() => notice.remove(), 20000);
    });
    notices.append(notice);
    window.htmx.process(notice);
  }

  body.addEventListener("htmx:afterRequest", (event) => {
    const xhr = event.detail.xhr;
    if (!xhr) return;
    const revision = xhr.getResponseHeader("X-Change-Revision");
    if (revision) ownRevisions.add(Number(revision));
    if (revision && event.detail.successful) followReach(revision);
    showRevision(xhr.getResponseHeader("X-Rules-Revision"));
    const verb = (event.detail.requestConfig && event.detail.requestConfig.verb) || "";
    // A row answers for itself only: the counts above the list follow it (after a conflict too).
    const path = (event.detail.requestConfig && event.detail.requestConfig.path) || "";
    const rowWrite = path === "/ui/tasks/mode" || path === "/ui/tasks/forget";
    if (rowWrite && verb === "post" && (event.detail.successful || xhr.status === 412)) scheduleRefresh("summary");
    if (verb === "post" && event.detail.successful) {
      const note = document.getElementById("change-note");
      if (note) note.value = "";
    }
    // A "Keep" choice goes with one change only: cleared once a write went through (not when the
    // kill switch only asked for confirmation).
    if (revision && event.detail.successful) resetKeep();
    const dialog = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("dialog");
    if (dialog && verb === "post" && (event.detail.successful || xhr.status === 412)) closeDialog(dialog);
  });

  body.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    if (xhr && !xhr.getResponseHeader("HX-Trigger")) {
      notify("The service answered " + xhr.status + "; nothing was changed.", "error");
    }
  });
  body.addEventListener("htmx:sendError", () => notify("Could not reach the service. Check your connection.", "error"));
  // htmx rejects the promise of a request that could not be sent with no reason at all, and not
  // every such promise reaches our code: without this, going offline shows "undefined" as an
  // uncaught error. The failure itself is announced above (htmx:sendError).
  window.addEventListener("unhandledrejection", (event) => {
    if (event.reason === undefined) event.preventDefault();
  });

  // ---------------------------------------------------------------- refreshing regions

  const regions = {
    tasks: { target: "#tasks-region", url: () => "/ui/tasks" + window.location.search },
    // The counts only, cut from the list's fragment, so the row being used keeps its focus.
    summary: { target: "#tasks-summary", select: "#tasks-summary", url: () => "/ui/tasks" + window.location.search },
    patterns: { target: "#patterns-panel", url: () => "/ui/patterns" },
    settings: { target: "#settings-panel", url: () => "/ui/settings" },
  };
  const pending = new Set();
  let pendingHighlight = null;
  let refreshTimer = null;

  function scheduleRefresh(region, highlightKey) {
    if (!regions[region]) return;
    pending.add(region);
    if (highlightKey) pendingHighlight = highlightKey;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(flushRefresh, 60);
  }

  function flushRefresh() {
    const highlight = pendingHighlight;
    pendingHighlight = null;
    for (const name of Array.from(pending)) {
      pending.delete(name);
      const region = regions[name];
      if (!document.querySelector(region.target)) {
        // No counts shown (the list was empty): the whole list may need them now.
        if (name === "summary") scheduleRefresh("tasks");
        continue;
      }
      const context = { target: region.target, swap: "outerHTML", headers: { "X-HTF-Refresh": "1" } };
      if (region.select) context.select = region.select;
      htmx
        .ajax("GET", region.url(), context)
        .then(() => {
          if (name === "tasks" && highlight) highlightRow(highlight);
        })
        // Offline or refused: htmx already announced it, and a reconnection reloads every region.
        .catch(() => {});
    }
  }

  function highlightRow(actionId) {
    for (const row of document.querySelectorAll("tr[data-action-id]")) {
      if (row.dataset.actionId === actionId) {
        row.classList.remove("is-updated");
        void row.offsetWidth; // restart the animation
        row.classList.add("is-updated");
      }
    }
  }

  // ---------------------------------------------------------------- live updates

  function describe(change) {
    // Never "You": a change heard here came from elsewhere (the CLI, the API, another window), even
    // with the same token, so name who and through what.
    const who = change.actor || "someone";
    let via = change.source ? " (" + change.source + ")" : "";
    if (change.actor === me && change.source === "dashboard") via = " (dashboard, another window)";
    const before = change.before || {};
    const after = change.after || {};
    switch (change.kind) {
      case "task":
        if (after.mode == null) return who + " reset " + change.key + ": it follows patterns and the default again" + via;
        if (before.mode === after.mode) return who + " changed the note on " + change.key + via;
        return who + " set " + change.key + " to " + after.mode + via;
      case "pattern":
        if (after.mode == null) return who + " removed pattern " + change.key + via;
        if (before.mode == null) return who + " added pattern " + change.key + " → " + after.mode + via;
        if (before.mode === after.mode) return who + " changed the note on pattern " + change.key + via;
        return who + " set pattern " + change.key + " to " + after.mode + via;
      case "settings":
        if (before.links_enabled && !after.links_enabled) return who + " turned span links off for every task" + via;
        if (!before.links_enabled && after.links_enabled) return who + " turned span links back on" + via;
        if (before.default !== after.default) return who + " set the default mode to " + after.default + via;
        return who + " changed the settings' note" + via;
      case "import":
        return who + " imported a new rule set" + via;
      default:
        return who + " changed the rules" + via;
    }
  }

  function applyChange(change) {
    showRevision(change.revision);
    const own = ownRevisions.has(change.revision);
    if (!own) notify(describe(change), "live");
    if (change.kind === "task") {
      if (!own) scheduleRefresh("tasks", change.key);
    } else {
      scheduleRefresh("tasks");
      if (change.kind !== "settings") scheduleRefresh("patterns");
      if (change.kind !== "pattern") scheduleRefresh("settings");
    }
    refreshHistory(change.key);
  }

  // An open history dialog follows its task's changes. Only its body is replaced, never the dialog:
  // a new dialog would open again after Escape closed the old one while the update was on its way.
  // The events go to the page (source), since a closed dialog is removed from it.
  function refreshHistory(actionId) {
    const history = document.querySelector("dialog[open][data-history-key]");
    const historyBody = history && history.querySelector("#history-body");
    if (!historyBody || history.dataset.historyKey !== actionId) return;
    htmx
      .ajax("GET", "/ui/tasks/history?action_id=" + encodeURIComponent(actionId), {
        source: body,
        target: historyBody,
        select: "#history-body",
        swap: "outerHTML",
        headers: { "X-HTF-Refresh": "1" },
      })
      .catch(() => {});
  }

  // Whatever arrives for a dialog closed in the meantime is dropped.
  body.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    const dialog = target && target.closest ? target.closest("dialog") : null;
    if (target && (!target.isConnected || (dialog && !dialog.open))) event.detail.shouldSwap = false;
  });

  function setLive(state, label) {
    if (!liveStatus) return;
    liveStatus.dataset.state = state;
    liveStatus.textContent = label;
  }

  function connect() {
    if (!window.EventSource || !document.getElementById("tasks-region")) return;
    const source = new EventSource("/api/v1/events");
    source.addEventListener("open", () => setLive("live", "Live"));
    source.addEventListener("change", (message) => {
      let change;
      try {
        change = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (change.actor === me && change.source === "dashboard" && !ownRevisions.has(change.revision)) {
        // Our own write may still be on its way back: let its response claim the revision first.
        setTimeout(() => applyChange(change), 500);
      } else {
        applyChange(change);
      }
    });
    source.addEventListener("refetch", () => {
      notify("Reconnected: showing the latest state.", "info");
      ["tasks", "patterns", "settings"].forEach((region) => scheduleRefresh(region));
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setLive("offline", "Offline");
        notify("Live updates stopped (your session may have ended). Reload the page.", "error");
      } else {
        setLive("reconnecting", "Reconnecting…");
      }
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // ---------------------------------------------------------------- list query

  // The sort lives in the list (its column headers) and the filters in the form above it: after the
  // list changes, the form carries the list's sort, so picking a filter keeps it. On swap, not on
  // settle: htmx pushes the list's URL just before the swap and settles 20 ms later, and a filter
  // picked in between would drop the sort the address bar already shows.
  body.addEventListener("htmx:afterSwap", () => {
    const region = document.getElementById("tasks-region");
    const form = document.getElementById("task-filters");
    if (!region || !form) return;
    for (const name of ["sort", "order"]) {
      const field = form.querySelector("input[name=" + name + "]");
      if (field && region.dataset[name]) field.value = region.dataset[name];
    }
  });

  // ---------------------------------------------------------------- density

  const tasksCard = document.querySelector(".tasks-card");
  const densityToggle = document.getElementById("density-toggle");

  function setDensity(compact) {
    if (!tasksCard || !densityToggle) return;
    tasksCard.dataset.density = compact ? "compact" : "comfortable";
    densityToggle.setAttribute("aria-pressed", compact ? "true" : "false");
  }

  if (tasksCard && densityToggle) {
    let stored = null;
    try {
      stored = window.localStorage.getItem("htf-density");
    } catch (error) {
      stored = null; // storage refused (privacy settings): the choice lasts for this page only
    }
    setDensity(stored === "compact");
    densityToggle.hidden = false;
    densityToggle.addEventListener("click", () => {
      const compact = tasksCard.dataset.density !== "compact";
      setDensity(compact);
      try {
        window.localStorage.setItem("htf-density", compact ? "compact" : "comfortable");
      } catch (error) {
        // as above
      }
    });
  }

  // ---------------------------------------------------------------- dialogs

  let dialogOpener = null;

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
    else dialog.remove();
  }

  body.addEventListener("htmx:afterSwap", (event) => {
    const dialog = event.detail.target && event.detail.target.querySelector && event.detail.target.querySelector("dialog[data-autoshow]");
    if (!dialog || dialog.open) return;
    if (!dialogOpener || !document.body.contains(dialogOpener)) {
      dialogOpener = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
    }
    const openerId = dialogOpener && dialogOpener.id;
    dialog.addEventListener("close", () => {
      dialog.remove();
      let opener = dialogOpener;
      if (opener && !document.body.contains(opener) && openerId) opener = document.getElementById(openerId);
      dialogOpener = null;
      if (opener && document.body.contains(opener)) opener.focus();
    });
    dialog.showModal();
  });

  document.addEventListener("click", (event) => {
    const closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) closeDialog(dialog);
    }
    const clear = event.target.closest && event.target.closest("[data-clear-filters], [data-clear-selects]");
    if (clear) {
      const form = document.getElementById("task-filters");
      const fields = clear.hasAttribute("data-clear-selects") ? "select" : "input[type=search], select";
      if (form) {
        form.querySelectorAll(fields).forEach((field) => {
          field.value = "";
        });
      }
    }
  });

  // ---------------------------------------------------------------- timed changes

  // "Keep: until…" takes a time in the browser's zone; the offset at that time goes with it (a
  // datetime-local value has none), so the service reverts at the instant the operator meant.
  const keep = document.getElementById("change-keep");
  const keepUntil = document.getElementById("change-until");
  const keepOffset = document.getElementById("change-tz");

  function syncKeep() {
    if (!keep || !keepUntil || !keepOffset) return;
    keepUntil.hidden = keep.value !== "until";
    keepUntil.required = keep.value === "until";
    const at = keepUntil.value ? new Date(keepUntil.value) : new Date();
    keepOffset.value = String(-(isNaN(at.getTime()) ? new Date() : at).getTimezoneOffset());
  }

  function resetKeep() {
    if (!keep || !keepUntil) return;
    keep.value = "";
    keepUntil.value = "";
    syncKeep();
  }

  if (keep && keepUntil) {
    keep.addEventListener("change", () => {
      syncKeep();
      if (keep.value === "until") keepUntil.focus();
    });
    keepUntil.addEventListener("input", syncKeep);
    syncKeep();
  }

  // A timed setting counts down where it shows: "until 15:00 (in 42 min)", in the browser's zone.
  // The server wrote the same in UTC; the revert itself arrives as a live change like any other.
  function timeLeft(seconds) {
    if (seconds <= 0) return "reverting now";
    if (seconds < 120) return "in " + Math.ceil(seconds) + " s";
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return "in " + minutes + " min";
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return "in " + hours + " h" + (rest ? " " + rest + " min" : "");
  }

  function tickCountdowns() {
    const now = Date.now();
    for (const timed of document.querySelectorAll("[data-until]")) {
      const at = new Date(timed.dataset.until);
      if (isNaN(at.getTime())) continue;
      const left = (at.getTime() - now) / 1000;
      const sameDay = Math.abs(left) < 86400;
      const when = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const whenText = sameDay ? when : at.toLocaleDateString() + " " + when;
      const whenNode = timed.querySelector(".until-when");
      const leftNode = timed.querySelector(".until-left");
      if (whenNode) whenNode.textContent = "until " + whenText;
      if (leftNode) leftNode.textContent = "(" + timeLeft(left) + ")";
      timed.classList.toggle("is-due", left <= 0);
    }
  }

  tickCountdowns();
  window.setInterval(tickCountdowns, 1000);
  body.addEventListener("htmx:afterSettle", tickCountdowns);

  // ---------------------------------------------------------------- keyboard

  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) return;
    const search = document.getElementById("task-search");
    if (search && !document.querySelector("dialog[open]")) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  connect();
})();
