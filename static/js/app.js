/* BackupManager: small progressive enhancements. Every page works without this file;
   it adds engine-dependent fields, inline connection tests, the folder picker,
   the schedule preview and live progress (polling a server-rendered fragment). */
(function () {
  "use strict";

  function csrfToken(scope) {
    var input = (scope || document).querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var el = document.querySelector("[data-csrf]");
    return el ? el.getAttribute("data-csrf") : "";
  }

  function fetchText(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    return fetch(url, options).then(function (r) {
      return r.text().then(function (text) {
        if (!r.ok && r.status !== 400) throw new Error("The server answered " + r.status + ".");
        return text;
      });
    });
  }

  function debounce(fn, ms) {
    var t;
    return function () {
      var args = arguments, self = this;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }

  /* -- database form: fields follow the engine ---------------------------------- */
  function initEngineForm(form) {
    var select = form.querySelector("[data-engine-select]");
    if (!select) return;
    var nameInput = form.querySelector("[data-label-sqlite]");
    var nameLabel = nameInput ? form.querySelector("label[for='" + nameInput.id + "']") : null;
    var portInput = form.querySelector("input[name=port]");
    var groupSelect = form.querySelector("select[name=group]");
    // A SQLite path the chosen group accepts (its own folder), as the form computed it.
    function sqliteExample() {
      var examples = {};
      try { examples = JSON.parse(nameInput.getAttribute("data-sqlite-examples") || "{}"); } catch (e) { /* none */ }
      return examples[groupSelect ? groupSelect.value : ""] || "";
    }
    var ports = {};
    try { ports = JSON.parse(document.getElementById("engine-ports").textContent); } catch (e) { /* none */ }
    function apply() {
      var engine = select.value;
      form.querySelectorAll("[data-engines]").forEach(function (el) {
        var show = el.getAttribute("data-engines").split(" ").indexOf(engine) !== -1;
        el.hidden = !show;
        el.querySelectorAll("input, select, textarea").forEach(function (i) { i.disabled = !show; });
      });
      if (nameInput && nameLabel) {
        var sqlite = engine === "sqlite";
        nameLabel.textContent = nameInput.getAttribute(sqlite ? "data-label-sqlite" : "data-label-other");
        nameInput.placeholder = sqlite ? sqliteExample() : "";
      }
      if (portInput) portInput.placeholder = ports[engine] ? "default " + ports[engine] : "default";
    }
    select.addEventListener("change", apply);
    if (groupSelect) groupSelect.addEventListener("change", apply);
    apply();
  }

  /* -- "Test connection": POST the form (or nothing, for a saved database) ------- */
  function initTestButton(button) {
    button.addEventListener("click", function () {
      var form = button.closest("form");
      var target = document.getElementById("connection-result");
      var body = form ? new FormData(form) : new FormData();
      if (!form) body.append("csrfmiddlewaretoken", button.getAttribute("data-csrf") || csrfToken());
      var label = button.textContent;
      button.disabled = true;
      button.textContent = "Testing…";
      target.innerHTML = '<div class="banner info">Connecting…</div>';
      fetchText(button.getAttribute("data-test-connection"), {
        method: "POST", body: body, headers: { "X-CSRFToken": csrfToken(form) }
      }).then(function (html) { target.innerHTML = html; })
        .catch(function (err) { target.innerHTML = '<div class="banner error">' + err.message + "</div>"; })
        .then(function () { button.disabled = false; button.textContent = label; });
    });
  }

  /* -- destination folder picker ---------------------------------------------------- */
  function initPathForm(form) {
    var input = form.querySelector("[data-path-input]");
    var toggle = form.querySelector("[data-browse-toggle]");
    var picker = form.querySelector("[data-picker]");
    var status = form.querySelector("[data-path-status]");
    if (!input || !picker) return;
    var browseUrl = picker.getAttribute("data-browse-url");
    var checkUrl = browseUrl.replace(/browse\/$/, "check/");

    function check() {
      if (!input.value.trim()) { status.innerHTML = ""; return; }
      fetchText(checkUrl + "?path=" + encodeURIComponent(input.value.trim()))
        .then(function (html) { status.innerHTML = html; })
        .catch(function (err) { status.textContent = err.message; });
    }
    function browse(path) {
      picker.innerHTML = '<p class="muted small pad-msg">Loading…</p>';
      fetchText(browseUrl + (path ? "?path=" + encodeURIComponent(path) : ""))
        .then(function (html) {
          picker.innerHTML = html;
          var first = picker.querySelector("ul button, [data-pick]");
          if (first && picker.contains(document.activeElement) === false && picker.getAttribute("data-focus") === "1") first.focus();
        })
        .catch(function (err) { picker.innerHTML = '<p class="error-text">' + err.message + "</p>"; });
    }
    toggle.addEventListener("click", function () {
      var open = picker.hidden;
      picker.hidden = !open;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) {
        var current = input.value.trim();
        picker.setAttribute("data-focus", "1");
        browse(current && current.charAt(0) === "/" ? current : "");
      }
    });
    picker.addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b) return;
      if (b.hasAttribute("data-browse")) { browse(b.getAttribute("data-browse")); }
      if (b.hasAttribute("data-pick")) {
        input.value = b.getAttribute("data-pick");
        picker.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        check();
        input.focus();
      }
    });
    input.addEventListener("input", debounce(check, 300));
    if (input.value) check();
  }

  /* -- schedule form: custom cron field and the live preview --------------------------- */
  function initScheduleForm(form) {
    var url = form.getAttribute("data-preview-url");
    var target = document.getElementById("schedule-preview");
    var custom = form.querySelector("[data-custom-cron]");
    var cronInput = form.querySelector("input[name=cron_expression]");
    function interval() {
      var checked = form.querySelector("input[name=interval_value]:checked");
      return checked ? checked.value : "";
    }
    // The time-of-day fields of the daily/weekly/monthly presets show for their intervals only.
    function showFields() {
      var iv = interval();
      custom.hidden = iv !== "custom";
      form.querySelectorAll("[data-for-intervals]").forEach(function (el) {
        el.hidden = el.getAttribute("data-for-intervals").split(" ").indexOf(iv) === -1;
      });
    }
    function value(name) {
      var el = form.querySelector("[name=" + name + "]");
      return el ? el.value : "";
    }
    function refresh() {
      showFields();
      var params = new URLSearchParams({
        interval_value: interval(),
        cron_expression: cronInput.value,
        timezone: value("timezone"),
        run_time: value("run_time"),
        run_weekday: value("run_weekday"),
        run_day: value("run_day")
      });
      fetchText(url + "?" + params.toString())
        .then(function (html) { target.innerHTML = html; })
        .catch(function (err) { target.textContent = err.message; });
    }
    form.querySelectorAll(
      "input[name=interval_value], [name=timezone], [name=run_time], [name=run_weekday], [name=run_day]"
    ).forEach(function (el) { el.addEventListener("change", refresh); });
    form.querySelectorAll("[name=run_time], [name=run_day]").forEach(function (el) {
      el.addEventListener("input", debounce(refresh, 250));
    });
    cronInput.addEventListener("input", debounce(refresh, 250));
    showFields();
  }

  /* -- live activity: poll a fragment every 2 s while something runs ---------------- */
  function initPolling() {
    var POLL_MS = 2000;
    function schedule() { setTimeout(tick, POLL_MS); }
    function tick() {
      var el = document.getElementById("activity");
      if (!el || !el.hasAttribute("data-active")) return;
      // Do not pull the table from under someone using a menu or a button in it.
      if (el.querySelector("details[open]") || el.contains(document.activeElement) && document.activeElement !== document.body) {
        schedule();
        return;
      }
      fetchText(el.getAttribute("data-poll-url"))
        .then(function (html) {
          var current = document.getElementById("activity");
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          // A signed-out session answers with the sign-in page: keep what is shown and stop.
          if (current && fresh && fresh.id === "activity") current.replaceWith(fresh);
          else if (current) current.removeAttribute("data-active");
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () {
          var now = document.getElementById("activity");
          if (now && now.hasAttribute("data-active")) schedule();
        });
    }
    var el = document.getElementById("activity");
    if (el && el.hasAttribute("data-active")) schedule();
  }

  /* -- periodic refresh: [data-refresh-url] re-read every data-refresh-seconds (default 30) --
     The element is replaced by the fragment the URL answers (same id); nothing happens while the
     tab is hidden or someone uses a menu, a field or a button inside it. */
  function initRefresh(el) {
    var id = el.id;
    var seconds = parseInt(el.getAttribute("data-refresh-seconds"), 10) || 30;
    function busy(node) {
      return node.querySelector("details[open]") ||
        (node.contains(document.activeElement) && document.activeElement !== document.body);
    }
    function tick() {
      var current = document.getElementById(id);
      if (!current || !current.hasAttribute("data-refresh-url")) return;
      if (document.hidden || busy(current)) { setTimeout(tick, seconds * 1000); return; }
      fetchText(current.getAttribute("data-refresh-url"))
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          var now = document.getElementById(id);
          // A signed-out session answers with the sign-in page: keep what is shown and stop.
          if (!fresh || fresh.id !== id) { if (now) now.removeAttribute("data-refresh-url"); return; }
          if (now && !busy(now)) now.replaceWith(fresh);
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { setTimeout(tick, seconds * 1000); });
    }
    setTimeout(tick, seconds * 1000);
  }

  /* -- restore form: show the name to type, warn about the source, say what clean drops -- */
  function initRestore(select) {
    var form = select.form || document;
    var warning = form.querySelector("[data-source-warning]");
    var drops = form.querySelector("[data-confirm-drops]");
    function apply() {
      var opt = select.options[select.selectedIndex];
      var name = opt && opt.value ? opt.getAttribute("data-name") : "";
      form.querySelectorAll("[data-confirm-hint]").forEach(function (hint) { hint.textContent = name; });
      form.querySelectorAll("[data-drops-name]").forEach(function (el) { el.textContent = name || "the target"; });
      if (warning) warning.hidden = !(opt && opt.getAttribute("data-source") === "true");
      var clean = form.querySelector("[data-clean-choice]");
      if (drops) drops.hidden = !(clean && clean.checked);
    }
    select.addEventListener("change", apply);
    form.querySelectorAll("input[name=scope]").forEach(function (r) { r.addEventListener("change", apply); });
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-engine-form]").forEach(initEngineForm);
    document.querySelectorAll("[data-test-connection]").forEach(initTestButton);
    document.querySelectorAll("[data-path-form]").forEach(initPathForm);
    document.querySelectorAll("[data-schedule-form]").forEach(initScheduleForm);
    document.querySelectorAll("[data-restore-target]").forEach(initRestore);
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
    document.querySelectorAll("[data-js-hide]").forEach(function (el) { el.hidden = true; });
    // Close an open <details> menu with Escape and return focus to its summary.
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape") return;
      var open = document.activeElement && document.activeElement.closest("details[open]");
      if (open) { open.open = false; open.querySelector("summary").focus(); }
    });
    initPolling();
    document.querySelectorAll("[data-refresh-url][id]").forEach(initRefresh);
  });
})();
