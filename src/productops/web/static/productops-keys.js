// Keyboard shortcuts, written once for every page that wants them (no inline scripts).
// - An element with data-key="x" is clicked when x is pressed (a select or input is focused
//   instead), unless the focus is in a text field.
// - A list with data-keynav: j / k move between its [data-keyitem] rows, Enter (or o) opens
//   the row's first link.
// - "?" shows the page's #shortcuts help, if it has one.
(function () {
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function rows() {
    var list = document.querySelector("[data-keynav]");
    return list ? Array.prototype.slice.call(list.querySelectorAll("[data-keyitem]")) : [];
  }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var current = all.findIndex(function (r) { return r.classList.contains("key-current"); });
    var next = Math.max(0, Math.min(all.length - 1, current + step));
    if (current >= 0) all[current].classList.remove("key-current");
    all[next].classList.add("key-current");
    var link = all[next].querySelector("a");
    if (link) link.focus({ preventScroll: true });
    all[next].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      return;
    }
    if (typing(ev.target)) return;
    if (ev.key === "j" || ev.key === "k") {
      if (rows().length) { ev.preventDefault(); move(ev.key === "j" ? 1 : -1); return; }
    }
    if (ev.key === "?") {
      var help = document.getElementById("shortcuts");
      if (help) { help.open = !help.open; ev.preventDefault(); }
      return;
    }
    var target = document.querySelector('[data-key="' + CSS.escape(ev.key) + '"]');
    if (!target) return;
    ev.preventDefault();
    if (target.tagName === "SELECT" || target.tagName === "INPUT" || target.tagName === "TEXTAREA") {
      target.focus();
    } else {
      target.click();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var all = rows();
    if (all.length && !document.querySelector(".key-current")) all[0].classList.add("key-current");
  });
})();
