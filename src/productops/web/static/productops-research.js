// Research note editor: select words in the note → the highlight form fills in → tag → save.
// Offsets are characters of the note's text as shown (the server maps them back to the
// stored note, pseudonyms and all). No inline script: the page's CSP allows none.
(function () {
  "use strict";

  function offsetWithin(root, node, offset) {
    // Characters of `root`'s text before (node, offset).
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var count = 0;
    var current = walker.nextNode();
    while (current) {
      if (current === node) {
        return count + offset;
      }
      count += current.nodeValue.length;
      current = walker.nextNode();
    }
    if (node === root) {
      // An offset counted in child nodes of the root itself.
      var total = 0;
      for (var i = 0; i < offset && i < root.childNodes.length; i++) {
        total += root.childNodes[i].textContent.length;
      }
      return total;
    }
    return -1;
  }

  function setup() {
    var body = document.getElementById("note-body");
    var form = document.getElementById("hl-form");
    if (!body || !form) {
      return;
    }
    var start = document.getElementById("hl-start");
    var end = document.getElementById("hl-end");
    var quote = document.getElementById("hl-quote");
    var shown = document.getElementById("hl-selected");
    var submit = document.getElementById("hl-submit");

    function update() {
      var selection = window.getSelection();
      if (!selection || selection.rangeCount === 0 || selection.isCollapsed) {
        return;
      }
      var range = selection.getRangeAt(0);
      if (!body.contains(range.startContainer) || !body.contains(range.endContainer)) {
        return;
      }
      var a = offsetWithin(body, range.startContainer, range.startOffset);
      var b = offsetWithin(body, range.endContainer, range.endOffset);
      if (a < 0 || b <= a) {
        return;
      }
      var text = body.textContent.slice(a, b);
      if (!text.trim()) {
        return;
      }
      start.value = String(a);
      end.value = String(b);
      quote.value = text;
      shown.textContent = "\u201c" + (text.length > 400 ? text.slice(0, 400) + "\u2026" : text) + "\u201d";
      form.removeAttribute("data-empty");
      submit.disabled = false;
    }

    body.addEventListener("mouseup", update);
    body.addEventListener("keyup", update);
    document.addEventListener("selectionchange", function () {
      window.clearTimeout(setup.timer);
      setup.timer = window.setTimeout(update, 150);
    });

    // A click on a highlighted passage shows its card; a card's link shows the passage.
    body.addEventListener("click", function (event) {
      var mark = event.target.closest ? event.target.closest("mark[data-h]") : null;
      if (!mark) {
        return;
      }
      var card = document.getElementById("card-h" + mark.getAttribute("data-h"));
      if (card) {
        card.scrollIntoView({ block: "nearest" });
      }
    });
    function flash(id) {
      var marks = body.querySelectorAll('mark[data-h="' + id + '"]');
      Array.prototype.forEach.call(body.querySelectorAll("mark.current"), function (m) {
        m.classList.remove("current");
      });
      Array.prototype.forEach.call(marks, function (m) {
        m.classList.add("current");
      });
      if (marks.length) {
        marks[0].scrollIntoView({ block: "center" });
      }
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-goto]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        flash(link.getAttribute("data-goto"));
      });
    });
    if (location.hash && /^#h\d+$/.test(location.hash)) {
      flash(location.hash.slice(2));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
