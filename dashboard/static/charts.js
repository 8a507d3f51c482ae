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
  function draw(canvas, datasets, markers) {
    var top = 0;
    datasets.forEach(function (d, i) {
      d.borderColor = d.backgroundColor = palette[i % palette.length];
      d.pointRadius = 1;
    });
    datasets.forEach(function (d) { d.data.forEach(function (p) { if (p.y > top) { top = p.y; } }); });
    function marks(wanted) {
      return markers.filter(function (m) { return (m.kind === "alert") === wanted; })
        .map(function (m) {
          return {x: Date.parse(m.timestamp), y: top, note: (wanted ? m.action + ": " : "") + m.message};
        });
    }
    datasets.push({label: "changes", type: "scatter", pointStyle: "triangle", pointRadius: 7, borderColor: "#555",
                   backgroundColor: "#555", data: marks(false)});
    datasets.push({label: "alerts", type: "scatter", pointStyle: "rectRot", pointRadius: 6, borderColor: "#b91c1c",
                   backgroundColor: "#b91c1c", data: marks(true)});
    new Chart(canvas, {type: "line", data: {datasets: datasets}, options: {
      animation: false, parsing: false, spanGaps: false, normalized: true,  // no data: a gap, not a line
      scales: {x: {type: "linear", ticks: {callback: function (v) { return new Date(v).toLocaleTimeString(); }}}},
      plugins: {tooltip: {callbacks: {label: function (c) { return c.raw.note || String(c.raw.y); }}}}}});
  }
  Promise.all([fetchJson(box.getAttribute("data-source")), fetchJson(box.getAttribute("data-markers"))]).then(function (answers) {
    var data = answers[0], markers = answers[1].changes || [];
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
