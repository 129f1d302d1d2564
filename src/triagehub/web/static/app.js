/* triagehub dashboard: progressive enhancement, hand-written, no library.
 *
 * Every page works without this script. With it:
 * - live updates: the REST API's event stream (GET /api/v1/stream) tells when something changed;
 *   the page then fetches itself again and swaps the regions marked data-live (rows that are new
 *   or changed are highlighted), with an indicator in the header;
 * - triage actions on the issue page go to PATCH /api/v1/issues/{id} with the token this tab was
 *   signed in with (sessionStorage), and the timeline updates in place;
 * - "/" focuses the search field.
 * Text from the server is only ever inserted as server-rendered (escaped) HTML or as textContent.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "triagehub.token";
  var body = document.body;
  var page = body.getAttribute("data-page") || "page";
  var issueId = body.getAttribute("data-issue");
  var live = document.getElementById("live");
  var announcer = document.getElementById("announcer");
  var updates = 0;

  function storage() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null;
    }
  }
  function getToken() {
    var s = storage();
    return s ? s.getItem(TOKEN_KEY) : null;
  }
  function setToken(value) {
    var s = storage();
    if (!s) return;
    if (value) s.setItem(TOKEN_KEY, value);
    else s.removeItem(TOKEN_KEY);
  }
  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }
  function setLive(state, text) {
    if (!live) return;
    live.setAttribute("data-state", state);
    var label = live.querySelector(".live-text");
    if (label) label.textContent = text;
  }
  function clock(d) {
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  /* -- keyboard: "/" focuses the search -------------------------------------------------- */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) return;
    var search = document.getElementById("f-q");
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  /* -- swapping the live regions --------------------------------------------------------- */
  var refreshTimer = null;
  var refreshing = false;
  var refreshAgain = false;
  var lastRefresh = 0;
  var minGap = page === "health" || page === "patterns" ? 10000 : 600;

  function versions(root) {
    var found = {};
    root.querySelectorAll("[data-key]").forEach(function (row) {
      found[row.getAttribute("data-key")] = row.getAttribute("data-version");
    });
    return found;
  }

  function swap(doc) {
    var focused = document.activeElement;
    var deferred = false;
    document.querySelectorAll("[data-live]").forEach(function (region) {
      var name = region.getAttribute("data-live");
      var fresh = doc.querySelector('[data-live="' + name + '"]');
      if (!fresh) return;
      if (focused && focused !== document.body && region.contains(focused)) {
        deferred = true; // never pull the element a person is using from under them
        return;
      }
      var before = versions(region);
      var imported = document.importNode(fresh, true);
      region.replaceWith(imported);
      imported.querySelectorAll("[data-key]").forEach(function (row) {
        var key = row.getAttribute("data-key");
        if (!(key in before) || before[key] !== row.getAttribute("data-version")) {
          row.classList.add("changed");
        }
      });
    });
    var freshPending = doc.querySelector("[data-pending]");
    if (freshPending || deferred) schedule(freshPending ? 1500 : 3000);
  }

  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    lastRefresh = Date.now();
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        swap(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        refreshing = false;
        if (refreshAgain) {
          refreshAgain = false;
          schedule(minGap);
        }
      });
  }

  function schedule(delay) {
    if (refreshTimer) return;
    var wait = Math.max(delay || 300, minGap - (Date.now() - lastRefresh));
    refreshTimer = window.setTimeout(function () {
      refreshTimer = null;
      refresh();
    }, wait);
  }

  if (document.querySelector("[data-pending]")) schedule(1200);

  /* -- on a phone, the filters fold away until asked for (unless some are set) ------------- */
  var panel = document.querySelector("[data-filter-panel]");
  if (panel && window.matchMedia && window.matchMedia("(max-width: 760px)").matches &&
      !document.querySelector(".chips")) {
    panel.open = false;
  }

  /* -- the event stream ------------------------------------------------------------------ */
  function relevant(kind, data) {
    if (page === "issue") {
      return String(data.issue_id) === issueId ||
        (kind === "agent" && data.session && String(data.session.issue_id) === issueId);
    }
    if (page === "sessions") return kind === "agent";
    if (page === "specs") return kind === "spec";
    if (kind === "spec") return page === "work";
    return kind === "issue" || kind === "occurrence";
  }

  function onEvent(kind, data) {
    updates += 1;
    setLive("live", "Live · " + updates + " update" + (updates === 1 ? "" : "s") + " · " + clock(new Date()));
    if (live) {
      live.classList.remove("pulse");
      void live.offsetWidth; // restart the animation
      live.classList.add("pulse");
    }
    if (kind === "issue" && data.kind === "created" && data.issue) {
      announce("New issue #" + data.issue.id + " in " + data.issue.repository + ": " + data.issue.title);
    }
    if (kind === "spec" && data.headline) announce("Spec " + data.project + ": " + data.headline);
    if (relevant(kind, data)) schedule(300);
  }

  function handle(kind, raw) {
    var data;
    try {
      data = JSON.parse(raw);
    } catch (e) {
      return;
    }
    onEvent(kind, data);
  }

  function connectEventSource(url) {
    var source = new EventSource(url);
    setLive("connecting", "Connecting…");
    source.onopen = function () {
      setLive("live", updates ? "Live · " + updates + " updates" : "Live");
    };
    source.onerror = function () {
      setLive("retrying", "Reconnecting…"); // EventSource retries by itself, with Last-Event-ID
    };
    ["issue", "occurrence", "agent", "spec"].forEach(function (kind) {
      source.addEventListener(kind, function (event) { handle(kind, event.data); });
    });
  }

  /* With api.require_token_for_reads an EventSource cannot authenticate: read the stream with
     fetch and the tab's token instead, resuming from the last event id. */
  function connectWithToken(url, token) {
    var lastId = null;
    var decoder = new TextDecoder();
    function start() {
      setLive("connecting", "Connecting…");
      var headers = { Authorization: "Bearer " + token, Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      fetch(url, { headers: headers, credentials: "same-origin" }).then(function (response) {
        if (response.status === 401) {
          setLive("off", "Live updates: sign in again");
          return null;
        }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        setLive("live", "Live");
        var reader = response.body.getReader();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) throw new Error("closed");
            buffer += decoder.decode(chunk.value, { stream: true });
            var blocks = buffer.split("\n\n");
            buffer = blocks.pop();
            blocks.forEach(function (block) {
              var kind = "message", data = [];
              block.split("\n").forEach(function (line) {
                if (line.indexOf("id: ") === 0) lastId = line.slice(4);
                else if (line.indexOf("event: ") === 0) kind = line.slice(7);
                else if (line.indexOf("data: ") === 0) data.push(line.slice(6));
              });
              if (data.length) handle(kind, data.join("\n"));
            });
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        setLive("retrying", "Reconnecting…");
        window.setTimeout(start, 2000);
      });
    }
    start();
  }

  var streamUrl = body.getAttribute("data-stream");
  if (streamUrl && page !== "login") {
    if (body.getAttribute("data-reads-need-token") === "true") {
      var token = getToken();
      if (token && window.fetch && window.TextDecoder) connectWithToken(streamUrl, token);
      else setLive("off", "Live updates need a sign-in");
    } else if (window.EventSource) {
      connectEventSource(streamUrl);
    }
  }

  /* -- sign in / out --------------------------------------------------------------------- */
  var login = document.querySelector("form[data-login]");
  if (login) {
    var field = login.querySelector("input[name=token]");
    var match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (match && field) {
      field.value = decodeURIComponent(match[1]);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    login.addEventListener("submit", function () {
      if (field && field.value.trim()) setToken(field.value.trim());
    });
  }
  document.querySelectorAll("form[data-logout]").forEach(function (form) {
    form.addEventListener("submit", function () { setToken(null); });
  });

  /* -- triage actions through the REST API ----------------------------------------------- */
  function bodyOf(form) {
    var action = form.getAttribute("data-action");
    var value = function (name) {
      var el = form.elements.namedItem(name);
      return el && "value" in el ? String(el.value).trim() : "";
    };
    var out = { reason: value("reason") };
    if (action === "decision") {
      out.decision = value("decision");
      if (value("priority")) out.priority = value("priority");
    }
    else if (action === "assign") out.assignee = value("assignee");
    else if (action === "state") out.state = value("state");
    else if (action === "false_positive") {
      out.state = "false_positive";
      out.category = "false_positive";
    } else if (action === "snooze") {
      var how = form.querySelector("input[name=snooze]:checked");
      how = how ? how.value : "until";
      if (how === "until") {
        var at = value("until");
        if (!at) throw new Error("Give a date and time to snooze until.");
        out.snooze = { until: (at.length === 16 ? at + ":00" : at) + "Z" };
      } else if (how === "occurrences") {
        var n = parseInt(value("occurrences"), 10);
        if (!(n >= 1)) throw new Error("Give a number of occurrences (1 or more).");
        out.snooze = { occurrences: n };
      } else {
        out.snooze = { forever: true };
      }
    }
    return out;
  }

  function status(form, text, kind) {
    var el = form.querySelector(".form-status");
    if (!el) return;
    el.textContent = text;
    el.className = "form-status" + (kind ? " " + kind : "");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  document.querySelectorAll("form[data-action]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var token = getToken();
      if (!token || !window.fetch) return; // the form posts to the dashboard (session + CSRF)
      event.preventDefault();
      var payload;
      try {
        payload = bodyOf(form);
      } catch (e) {
        status(form, e.message, "error");
        return;
      }
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      status(form, "Saving…", "");
      fetch("/api/v1/issues/" + form.getAttribute("data-issue"), {
        method: "PATCH",
        credentials: "same-origin",
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { response: response, data: data };
        });
      }).then(function (result) {
        var response = result.response, data = result.data;
        if (response.ok) {
          var reason = form.elements.namedItem("reason");
          if (reason) reason.value = "";
          status(form, "Saved.", "ok");
          announce("Saved: " + form.getAttribute("data-action").replace("_", " "));
          schedule(0);
          return;
        }
        if (response.status === 401) {
          setToken(null);
          status(form, "The token was refused (revoked?): sign in again.", "error");
          return;
        }
        status(form, (data && (data.detail || data.title)) || "Failed: HTTP " + response.status, "error");
      }).catch(function (e) {
        status(form, "Failed: " + e.message, "error");
      }).then(function () {
        if (button) button.disabled = false;
      });
    });
  });

  /* Signed in in this tab (a token to send), hide the "sign in" hint. */
  if (getToken()) {
    document.querySelectorAll("[data-signin-hint]").forEach(function (el) { el.hidden = true; });
  }
})();
