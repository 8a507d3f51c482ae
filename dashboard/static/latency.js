// The service page's latency histogram (log-spaced buckets as equal bars) with a brush over it,
// and the comparison of the selection (a duration range and/or failed requests) with the rest.
(function () {
  "use strict";
  var box = document.querySelector("section.latency");
  var canvas = document.getElementById("latency-histogram");
  if (!box || !canvas || typeof Chart === "undefined") { return; }
  var params = new URLSearchParams(window.location.search);
  var range = new URLSearchParams();
  ["from", "to"].forEach(function (name) { if (params.get(name)) { range.set(name, params.get(name)); } });
  var form = document.getElementById("selection"), note = document.getElementById("selection-note");
  var minInput = document.getElementById("min-ms"), maxInput = document.getElementById("max-ms");
  var failed = document.getElementById("failed");
  var buckets = [], chart = null, brush = null;

  function fetchJson(url, extra) {
    var query = new URLSearchParams(range);
    Object.keys(extra || {}).forEach(function (k) { query.set(k, extra[k]); });
    return fetch(url + "?" + query.toString(), {credentials: "same-origin"}).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) { throw new Error(body.error || r.statusText); } return body; });
    });
  }
  function ms(value) { return value === null ? "" : (value >= 1000 ? (value / 1000) + " s" : value + " ms"); }
  function label(b) {
    if (b.from_ms === null) { return "< " + ms(b.to_ms); }
    if (b.to_ms === null) { return "≥ " + ms(b.from_ms); }
    return ms(b.from_ms) + "–" + ms(b.to_ms);
  }
  function paint() {
    var picked = function (i) { return brush && i >= Math.min(brush[0], brush[1]) && i <= Math.max(brush[0], brush[1]); };
    chart.data.datasets[0].backgroundColor = buckets.map(function (b, i) { return picked(i) ? "#d97706" : "#2b6cb0"; });
    chart.update("none");
  }
  function indexAt(event) {
    var x = event.offsetX, scale = chart.scales.x;
    var i = Math.round(scale.getValueForPixel(x));
    return Math.max(0, Math.min(buckets.length - 1, i));
  }
  function draw(answer) {
    buckets = answer.buckets;
    if (!buckets.length) { note.textContent = "no transactions of this service in the range"; }
    chart = new Chart(canvas, {type: "bar", data: {labels: buckets.map(label), datasets: [
      {label: "succeeded", data: buckets.map(function (b) { return b.count - b.failed; })},
      {label: "failed", data: buckets.map(function (b) { return b.failed; }), backgroundColor: "#b91c1c"}]},
      options: {animation: false, aspectRatio: 3, events: ["mousemove", "mouseout"],
        scales: {x: {stacked: true, title: {display: true, text: "duration (log scale)"}},
                 y: {stacked: true, beginAtZero: true, title: {display: true, text: "transactions"}}}}});
    paint();
    canvas.setAttribute("data-loaded", String(answer.count));
  }
  canvas.addEventListener("mousedown", function (event) {
    if (!buckets.length) { return; }
    brush = [indexAt(event), indexAt(event)];
    paint();
  });
  canvas.addEventListener("mousemove", function (event) {
    if (brush && event.buttons === 1) { brush[1] = indexAt(event); paint(); }
  });
  canvas.addEventListener("mouseup", function () {
    if (!brush) { return; }
    var low = buckets[Math.min(brush[0], brush[1])], high = buckets[Math.max(brush[0], brush[1])];
    minInput.value = low.from_ms === null ? "" : String(low.from_ms);
    maxInput.value = high.to_ms === null ? "" : String(high.to_ms);
    compare();
  });

  function percent(share) { return (100 * share).toFixed(1) + " %"; }
  function cell(row, text, className) {
    var td = row.insertCell(-1);
    td.textContent = text;
    if (className) { td.className = className; }
    return td;
  }
  function show(answer) {
    var body = document.querySelector("#comparison tbody");
    body.textContent = "";
    var t = answer.totals, s = answer.sample;
    note.textContent = t.selection + " selected transactions against " + t.baseline + " others" +
      (s.truncated ? "; trace documents compared over the newest " + Math.max(s.selection, s.baseline) + " traces a side" : "");
    answer.rows.forEach(function (r) {
      var row = body.insertRow(-1);
      row.className = r.score > 0 ? "over" : "";
      cell(row, r.dimension + (r.source === "transactions" ? "" : " (" + r.source + ")"));
      cell(row, r.value);
      cell(row, percent(r.selection.share) + " (" + r.selection.count + ")", "number");
      cell(row, percent(r.baseline.share) + " (" + r.baseline.count + ")", "number");
      cell(row, (r.score >= 0 ? "+" : "") + (100 * r.score).toFixed(1) + " pp", "number");
      var link = cell(row, "");
      if (r.traces) {
        var a = document.createElement("a");
        a.href = r.traces;
        a.textContent = "traces";
        link.appendChild(a);
      }
    });
    document.getElementById("comparison").setAttribute("data-loaded", String(answer.rows.length));
  }
  function compare() {
    var extra = {};
    if (minInput.value.trim()) { extra.min_ms = minInput.value.trim(); }
    if (maxInput.value.trim()) { extra.max_ms = maxInput.value.trim(); }
    if (failed.checked) { extra.failed = "1"; }
    note.textContent = "comparing…";
    fetchJson(box.getAttribute("data-comparison"), extra).then(show).catch(function (e) { note.textContent = e.message; });
  }
  form.addEventListener("submit", function (event) { event.preventDefault(); compare(); });
  failed.addEventListener("change", compare);
  fetchJson(box.getAttribute("data-histogram")).then(draw).catch(function (e) { note.textContent = e.message; });
})();
