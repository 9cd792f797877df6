// Saved dashboards: drag a panel by its handle (⠿) and drop it on another panel to move it
// to that place. The ↑ ↓ buttons do the same without a mouse; both post the same kind of form
// (with the page's CSRF token), so the server decides and the page reloads in the new order.
(function () {
  var from = null;
  function slotOf(ev) {
    var el = ev.target;
    if (el && el.nodeType !== 1) el = el.parentElement;
    return el && el.closest ? el.closest(".dashboard-grid > [data-index]") : null;
  }
  function clear() {
    document.querySelectorAll(".dashboard-grid .drop-target, .dashboard-grid .dragging").forEach(function (el) {
      el.classList.remove("drop-target", "dragging");
    });
  }
  document.addEventListener("dragstart", function (ev) {
    var handle = ev.target && ev.target.closest ? ev.target.closest(".drag-handle") : null;
    if (!handle) return;
    from = handle.getAttribute("data-index");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", from);
    var slot = handle.closest("[data-index]");
    if (slot && slot !== handle) {
      slot.classList.add("dragging");
      ev.dataTransfer.setDragImage(slot, 20, 20);
    }
  });
  document.addEventListener("dragover", function (ev) {
    if (from === null) return;
    var slot = slotOf(ev);
    if (!slot) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".dashboard-grid .drop-target").forEach(function (el) {
      if (el !== slot) el.classList.remove("drop-target");
    });
    slot.classList.add("drop-target");
  });
  document.addEventListener("dragend", function () { from = null; clear(); });
  document.addEventListener("drop", function (ev) {
    var slot = slotOf(ev);
    if (from === null || !slot) return;
    ev.preventDefault();
    var to = slot.getAttribute("data-index");
    var form = document.getElementById("panel-move");
    if (form && to !== from) {
      // The reader's own range (?days=…, ?start=…&end=…) stays after the move.
      form.action = form.getAttribute("data-base") + from + "/move" + (form.getAttribute("data-query") || "");
      form.elements.namedItem("to").value = to;
      form.submit();
    }
    from = null;
    clear();
  });
})();
