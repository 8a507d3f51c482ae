// Draws the charts of a page from the JSON API with Chart.js; change events become markers.
(function () {
  "use strict";
  var box = document.querySelector(".charts");
  if (!box || typeof Chart === "undefined") { return; }
  var params = new URLSearchParams(window.location.search);
  var range = new URLSearchParams();
  ["from", "to"].forEach(function (name) { if (params.get(name)) { range.set(name, params.get(name)); } });
  function withRange(url) { return url + (url.indexOf("?") < 0 ? "?" : "&") + range.toString(); }
  function fetchJson(url) {
    return fetch(withRange(url), {credentials: "same-origin"}).then(function (r) { return r.json(); });
  }
  function points(series) {
    return (series || []).map(function (p) { return {x: p[0], y: p[1]}; });
  }
  var palette = ["#2b6cb0", "#d97706", "#b91c1c", "#047857", "#6b21a8"];
  function tickLabel(span) {  // UTC everywhere; the date as well when the range crosses a day
    return function (v) {
      var iso = new Date(v).toISOString();
      return span > 86400000 || iso.slice(0, 10) !== new Date(bounds.min).toISOString().slice(0, 10)
        ? iso.slice(5, 16).replace("T", " ") : iso.slice(11, 19);
    };
  }
  var bounds = {min: null, max: null};
  function extent(data) {  // every chart of the page gets the same x-range: the range's first and last bucket
    Object.keys(data.series || {}).forEach(function (k) {
      (data.series[k] || []).forEach(function (p) {
        if (bounds.min === null || p[0] < bounds.min) { bounds.min = p[0]; }
        if (bounds.max === null || p[0] > bounds.max) { bounds.max = p[0]; }
      });
    });
  }
  function zoomTo(start, end) {  // brush-to-zoom: the selection becomes the page's range, in the URL
    var next = new URLSearchParams(window.location.search);
    next.set("from", new Date(Math.round(start)).toISOString());
    next.set("to", new Date(Math.round(end)).toISOString());
    window.location.search = next.toString();
  }
  function brush(canvas, chart) {
    var startX = null;
    canvas.addEventListener("mousedown", function (e) { startX = e.offsetX; });
    canvas.addEventListener("mouseup", function (e) {
      if (startX === null) { return; }
      var a = chart.scales.x.getValueForPixel(Math.min(startX, e.offsetX));
      var b = chart.scales.x.getValueForPixel(Math.max(startX, e.offsetX));
      var moved = Math.abs(e.offsetX - startX) > 5;
      startX = null;
      if (moved && b > a) { zoomTo(a, b); }
    });
  }
  function openChange(elements, chart) {
    var hit = (elements || []).map(function (e) { return chart.data.datasets[e.datasetIndex].data[e.index]; })
      .filter(function (raw) { return raw && raw.id; })[0];
    if (hit && window.oamChangePanel) { window.oamChangePanel.open(box, hit.id); }
  }
  function draw(canvas, datasets, markers) {
    var top = 0, empty = true;
    datasets.forEach(function (d, i) {
      d.borderColor = d.backgroundColor = palette[i % palette.length];
      d.pointRadius = 1;
    });
    datasets.forEach(function (d) { d.data.forEach(function (p) { if (p.y > top) { top = p.y; } if (p.y !== null) { empty = false; } }); });
    if (empty) {
      var note = document.createElement("p");
      note.className = "empty-chart note";
      note.textContent = "no data in this range";
      canvas.parentNode.appendChild(note);
    }
    function marks(wanted) {
      return markers.filter(function (m) { return (m.kind === "alert") === wanted; })
        .map(function (m) {
          return {x: Date.parse(m.timestamp), y: top, id: wanted ? null : m.id,
                  note: (wanted ? m.action + ": " : "") + m.message + (wanted ? "" : " (click for details)")};
        });
    }
    datasets.push({label: "changes", type: "scatter", pointStyle: "triangle", pointRadius: 7, borderColor: "#555",
                   backgroundColor: "#555", data: marks(false)});
    datasets.push({label: "alerts", type: "scatter", pointStyle: "rectRot", pointRadius: 6, borderColor: "#b91c1c",
                   backgroundColor: "#b91c1c", data: marks(true)});
    var chart = new Chart(canvas, {type: "line", data: {datasets: datasets}, options: {
      animation: false, parsing: false, spanGaps: false, normalized: true,  // no data: a gap, not a line
      scales: {x: {type: "linear", min: bounds.min === null ? undefined : bounds.min,
                   max: bounds.max === null ? undefined : bounds.max,
                   ticks: {callback: tickLabel((bounds.max || 0) - (bounds.min || 0))}}},
      onClick: function (event, elements, chart) { openChange(elements, chart); },  // a change marker opens its panel
      plugins: {tooltip: {callbacks: {label: function (c) { return c.raw.note || String(c.raw.y); }}}}}});
    brush(canvas, chart);
  }
  Promise.all([fetchJson(box.getAttribute("data-source")), fetchJson(box.getAttribute("data-markers"))]).then(function (answers) {
    var data = answers[0], markers = answers[1].changes || [];
    extent(data);
    box.querySelectorAll("canvas[data-series]").forEach(function (canvas) {
      var name = canvas.getAttribute("data-series");
      var datasets = name === "latency"
        ? ["p50_ms", "p95_ms", "p99_ms"].map(function (k) { return {label: k, data: points(data.series[k])}; })
        : [{label: name, data: points(data.series[name])}];
      draw(canvas, datasets, markers);
    });
    var shards = document.getElementById("shards");
    if (shards && data.shards) {
      data.shards.forEach(function (s) {
        var row = shards.insertRow(-1);
        row.className = s.skewed ? "skewed" : "";
        row.insertCell(-1).textContent = s.shard + (s.skewed ? " (skewed)" : "");
        row.insertCell(-1).textContent = String(s.operations);
      });
    }
    box.setAttribute("data-loaded", "true");
  });
})();
