// Draws every Vega-Lite chart on the page. Specs sit in <script type="application/json">
// blocks next to a [data-chart] element (data, never code), so no inline script is needed.
(function () {
  function draw(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chart);
      if (!source || typeof vegaEmbed !== "function") return;
      el.dataset.drawn = "1";
      vegaEmbed(el, JSON.parse(source.textContent), {
        actions: { export: true, source: false, compiled: false, editor: false },
        renderer: "svg",
      }).catch(function (err) {
        el.textContent = "This chart could not be drawn: " + err.message;
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // A swapped-in panel (a refreshed one, an htmx fragment) brings its own chart spec.
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
