// Trace search: a label filter adds a labels.<name> parameter; the scatter plot of duration over
// time opens a trace when a point is clicked.
(function () {
  "use strict";
  var form = document.getElementById("trace-search");
  if (form) {
    form.addEventListener("submit", function () {
      var name = document.getElementById("label-name"), value = document.getElementById("label-value");
      if (name.value.trim() && value.value.trim()) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "labels." + name.value.trim();
        input.value = value.value.trim();
        form.appendChild(input);
      }
    });
  }
  var canvas = document.getElementById("trace-scatter");
  if (!canvas || typeof Chart === "undefined") { return; }
  var link = canvas.getAttribute("data-trace");
  fetch(canvas.getAttribute("data-source"), {credentials: "same-origin"}).then(function (r) { return r.json(); })
    .then(function (answer) {
      var points = (answer.traces || []).map(function (t) {
        return {x: t.start_ms, y: t.duration_ms, id: t.trace_id, name: t.root.service + ": " + t.root.operation,
                failed: t.outcome === "failure"};
      });
      var chart = new Chart(canvas, {type: "scatter", data: {datasets: [{label: "traces", data: points,
        pointRadius: 4, pointBackgroundColor: points.map(function (p) { return p.failed ? "#b91c1c" : "#2b6cb0"; })}]},
        options: {animation: false, parsing: false,
          scales: {x: {type: "linear", title: {display: true, text: "start (UTC)"},
                       ticks: {callback: function (v) { return new Date(v).toISOString().slice(5, 19).replace("T", " "); }}},
                   y: {title: {display: true, text: "duration (ms)"}, beginAtZero: true}},
          plugins: {legend: {display: false}, tooltip: {callbacks: {label: function (c) {
            return c.raw.name + " · " + c.raw.y.toFixed(1) + " ms";
          }}}},
          onClick: function (event, elements) {
            if (elements.length) { window.location.href = link.replace("GTX", points[elements[0].index].id); }
          }}});
      canvas.setAttribute("data-loaded", String(chart.data.datasets[0].data.length));
    });
})();
