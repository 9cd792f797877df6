// Draws every Vega-Lite chart on the page. Specs sit in <script type="application/json">
// blocks next to a [data-chart] element (data, never code), so no inline script is needed.
// Annotations (dated notes, GET /api/v1/annotations) are drawn on every chart with a time
// axis whose range holds their day: a dashed rule and the note's text (in each small chart
// of small multiples).
(function () {
  var notes = null; // null: not fetched yet; [] when none or not readable
  function fetchNotes() {
    if (notes !== null) return Promise.resolve(notes);
    return fetch("/api/v1/annotations", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .catch(function () { return []; })
      .then(function (list) { notes = Array.isArray(list) ? list : []; return notes; });
  }
  function timeX(view) {
    var x = view && view.encoding && view.encoding.x;
    return x && x.type === "temporal" && typeof x.field === "string" ? x : null;
  }
  function rowsOf(spec, view) {
    var data = view.data || spec.data;
    if (!data) return [];
    if (Array.isArray(data.values)) return data.values;
    if (data.name && spec.datasets && Array.isArray(spec.datasets[data.name])) return spec.datasets[data.name];
    return [];
  }
  function day(value) {
    var t = Date.parse(value);
    return isNaN(t) ? null : t;
  }
  // The spec with a rule and a label per note inside its x range; the spec as is otherwise.
  function annotate(spec, list) {
    if (list.length && spec.facet && spec.spec && !spec.spec.facet) return annotateFacets(spec, list);
    if (!list.length || spec.facet || spec.hconcat || spec.vconcat || spec.concat || spec.repeat) return spec;
    var views = spec.layer ? spec.layer : [spec];
    var x = null, rows = [];
    views.forEach(function (v) {
      var found = timeX(v) || timeX(spec);
      if (found && !x) x = found;
      if (found) rows = rows.concat(rowsOf(spec, v));
    });
    if (!x || !rows.length) return spec;
    var field = x.field.replace(/\\(.)/g, "$1");
    var times = rows.map(function (r) { return day(r[field]); }).filter(function (t) { return t !== null; });
    if (!times.length) return spec;
    var lo = Math.min.apply(null, times), hi = Math.max.apply(null, times);
    var inRange = list.filter(function (n) { var t = day(n.day); return t !== null && t >= lo && t <= hi + 86400000; });
    if (!inRange.length) return spec;
    var values = inRange.map(function (n) { return { _note_day: n.day, _note: n.text }; });
    var ruleX = { field: "_note_day", type: "temporal" };
    if (x.scale) ruleX.scale = x.scale;
    var layers = [
      { data: { values: values }, mark: { type: "rule", strokeDash: [4, 3], color: "#8250df" },
        encoding: { x: ruleX, tooltip: [{ field: "_note_day", type: "temporal", title: "day", format: "%b %-d, %Y" }, { field: "_note", type: "nominal", title: "note" }] } },
      { data: { values: values }, mark: { type: "text", align: "left", baseline: "top", dx: 3, dy: 2, fontSize: 10, color: "#8250df", limit: 160 },
        encoding: { x: ruleX, y: { value: 0 }, text: { field: "_note", type: "nominal" } } },
    ];
    var out = {};
    Object.keys(spec).forEach(function (k) { out[k] = spec[k]; });
    if (spec.layer) {
      out.layer = spec.layer.concat(layers);
    } else {
      var base = {};
      ["mark", "encoding", "transform", "params", "selection", "projection"].forEach(function (k) {
        if (k in spec) { base[k] = spec[k]; delete out[k]; }
      });
      out.layer = [base].concat(layers);
    }
    return out;
  }
  // Small multiples (a facet): the rule and the label in every small chart, over the range
  // of all of them (they share their x scale).
  function annotateFacets(spec, list) {
    var inner = {};
    Object.keys(spec.spec).forEach(function (k) { inner[k] = spec.spec[k]; });
    if (!inner.data) inner.data = spec.data;
    if (spec.datasets) inner.datasets = spec.datasets;
    var drawn = annotate(inner, list);
    if (drawn === inner) return spec;
    delete drawn.datasets;
    if (!spec.spec.data) delete drawn.data;
    var out = {};
    Object.keys(spec).forEach(function (k) { out[k] = spec[k]; });
    out.spec = drawn;
    return out;
  }
  function draw(root) {
    var pending = root.querySelectorAll("[data-chart]:not([data-drawn])");
    if (!pending.length || typeof vegaEmbed !== "function") return;
    fetchNotes().then(function (list) {
      pending.forEach(function (el) {
        if (el.dataset.drawn) return;
        var source = document.getElementById(el.dataset.chart);
        if (!source) return;
        el.dataset.drawn = "1";
        var spec = JSON.parse(source.textContent);
        var shown = spec;
        try { shown = annotate(spec, list); } catch (e) { shown = spec; }
        vegaEmbed(el, shown, {
          actions: { export: true, source: false, compiled: false, editor: false },
          renderer: "svg",
        }).catch(function (err) {
          if (shown !== spec) {
            return vegaEmbed(el, spec, { actions: { export: true, source: false, compiled: false, editor: false }, renderer: "svg" });
          }
          el.textContent = "This chart could not be drawn: " + err.message;
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // A swapped-in panel (a refreshed one, an htmx fragment) brings its own chart spec.
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
