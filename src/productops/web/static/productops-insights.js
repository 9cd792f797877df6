// Insights pages: the SQL editor (click a table, column, event or property to put it at the
// cursor; Ctrl/Cmd+Enter runs the query), confirmation before a destructive button, and
// dashboard panels that follow the page's choices. No inline scripts: the CSP forbids them.
(function () {
  function insertAtCursor(area, text) {
    var start = area.selectionStart, end = area.selectionEnd;
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.focus();
  }
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-insert]") : null;
    if (!el) return;
    var area = document.getElementById("sql-query");
    if (!area) return;
    ev.preventDefault();
    insertAtCursor(area, el.getAttribute("data-insert"));
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || !(ev.ctrlKey || ev.metaKey)) return;
    if (!ev.target || ev.target.id !== "sql-query") return;
    var run = document.getElementById("sql-run");
    if (run) { ev.preventDefault(); run.click(); }
  });
  document.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) ev.preventDefault();
  }, true);
})();
