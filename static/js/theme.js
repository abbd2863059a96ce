/* BackupManager: the look. Loaded without defer in <head>, before the first paint, so a theme
   chosen with the header toggle (remembered in localStorage) shows at once, without a flash of
   the other one; without a choice the stylesheet follows the system (prefers-color-scheme).
   After parsing it also wires the toggle, labels table cells for the phone card layout, and
   moves focus to a form's error summary. Every page works without this file. */
(function () {
  "use strict";
  var KEY = "bm-theme";
  var root = document.documentElement;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : "";
    } catch (e) {
      return ""; // storage refused (private mode, policy): follow the system
    }
  }

  var chosen = stored();
  if (chosen) {
    root.setAttribute("data-theme", chosen);
    // The page's canvas too, before the stylesheet arrives (the meta tag above says "light dark").
    var meta = document.querySelector('meta[name="color-scheme"]');
    if (meta) meta.setAttribute("content", chosen);
  }

  var systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function current() {
    return root.getAttribute("data-theme") || (systemDark && systemDark.matches ? "dark" : "light");
  }

  function initToggle(button) {
    function show() { button.setAttribute("aria-pressed", current() === "dark" ? "true" : "false"); }
    button.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      var meta = document.querySelector('meta[name="color-scheme"]');
      if (meta) meta.setAttribute("content", next);
      try { window.localStorage.setItem(KEY, next); } catch (e) { /* not remembered, still applied */ }
      show();
    });
    if (systemDark && systemDark.addEventListener) systemDark.addEventListener("change", show);
    show();
    button.hidden = false;
  }

  /* The phone layout changes the table's CSS display, which makes some browsers (Safari) drop its
     table semantics: the roles say it again. */
  function keepTableRoles(table) {
    table.setAttribute("role", "table");
    Array.prototype.forEach.call(table.querySelectorAll(":scope > thead, :scope > tbody, :scope > tfoot"), function (group) {
      group.setAttribute("role", "rowgroup");
    });
    Array.prototype.forEach.call(table.rows, function (row) {
      row.setAttribute("role", "row");
      Array.prototype.forEach.call(row.cells, function (cell) {
        var header = cell.tagName === "TH";
        var inHead = row.parentNode.tagName === "THEAD";
        cell.setAttribute("role", header ? (inHead || cell.scope === "col" ? "columnheader" : "rowheader") : "cell");
      });
    });
  }

  /* Each body cell gets its column's header as data-label (unless the template set one): the
     phone layout shows it beside the value. Header cells spanning columns are counted. */
  function labelTable(table) {
    keepTableRoles(table);
    var head = table.tHead && table.tHead.rows[0];
    if (!head) return;
    var names = [];
    Array.prototype.forEach.call(head.cells, function (th) {
      var name = th.textContent.replace(/\s+/g, " ").trim();
      for (var i = 0; i < (th.colSpan || 1); i++) names.push(name);
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if ((cell.colSpan || 1) === 1 && !cell.hasAttribute("data-label") && names[column]) {
            cell.setAttribute("data-label", names[column]);
          }
          column += cell.colSpan || 1;
        });
      });
    });
  }

  function labelTables(scope) {
    if (scope.tagName === "TABLE") labelTable(scope);
    if (scope.querySelectorAll) Array.prototype.forEach.call(scope.querySelectorAll("table"), labelTable);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector("[data-theme-toggle]");
    if (toggle) initToggle(toggle);
    var main = document.getElementById("main");
    if (main) {
      labelTables(main);
      // Fragments replaced by the live updates (app.js) bring new rows: label them too.
      if (window.MutationObserver) {
        new MutationObserver(function (changes) {
          changes.forEach(function (change) {
            Array.prototype.forEach.call(change.addedNodes, function (node) {
              if (node.nodeType === 1) labelTables(node.closest("table") || node);
            });
          });
        }).observe(main, { childList: true, subtree: true });
      }
    }
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  });
})();
