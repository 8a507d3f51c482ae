// The panel a change marker opens: the deploy or CMDB change from /api/changes/<id>, and the service's
// figures before and after it (by version for a deploy). Text only (textContent), never HTML from the data.
(function () {
  "use strict";
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function fact(list, name, value) {
    if (value === undefined || value === null || value === "") { return; }
    list.appendChild(el("dt", name));
    var dd = el("dd");
    if (value instanceof Node) { dd.appendChild(value); } else { dd.textContent = String(value); }
    list.appendChild(dd);
  }
  function show(value, unit) {
    if (value === null || value === undefined) { return "-"; }
    return unit === "%" ? (value * 100).toFixed(2) + " %" : String(value) + (unit ? " " + unit : "");
  }
  var METRICS = [["requests", "requests", ""], ["requests_per_s", "request rate", "req/s"],
                 ["error_rate", "error rate", "%"], ["p95_ms", "p95 latency", "ms"]];
  function figuresTable(figures) {
    var table = el("table", null, "change-figures");
    table.id = "change-figures";
    var head = table.insertRow(-1);
    ["version", "metric", "before", "after"].forEach(function (h) { head.appendChild(el("th", h)); });
    var groups = [{version: "all", before: figures.before, after: figures.after}].concat(figures.versions || []);
    groups.forEach(function (g) {
      METRICS.forEach(function (m) {
        var row = table.insertRow(-1);
        row.setAttribute("data-version", g.version);
        row.setAttribute("data-metric", m[0]);
        row.insertCell(-1).textContent = g.version;
        row.insertCell(-1).textContent = m[1];
        row.insertCell(-1).textContent = show(g.before[m[0]], m[2]);
        row.insertCell(-1).textContent = show(g.after[m[0]], m[2]);
      });
    });
    return table;
  }
  function diffBlock(text) {
    var pre = el("pre", null, "diff");
    pre.id = "change-diff";
    (text || "(no difference)").split("\n").forEach(function (line) {
      var cls = line.charAt(0) === "+" ? "add" : (line.charAt(0) === "-" ? "del" : "");
      pre.appendChild(el("span", line + "\n", cls));
    });
    return pre;
  }
  function render(panel, c) {
    panel.textContent = "";
    var close = el("button", "Close", "close");
    close.type = "button";
    close.id = "change-panel-close";
    close.addEventListener("click", function () { panel.hidden = true; });
    panel.appendChild(close);
    var deploy = c.kind === "deployment";
    panel.appendChild(el("h2", deploy
      ? (c.action === "rollback-finished" ? "Rollback of " : "Deploy of ") + c.service + ": " +
        ((c.from_versions || []).join(", ") || "(none)") + " \u2192 " + c.to_version
      : "CMDB change: " + c.key + (c.version ? " (version " + c.version + ")" : "")));
    var facts = el("dl", null, "change-facts");
    fact(facts, "when (UTC)", c.timestamp);
    fact(facts, "who", c.user);
    if (deploy) {
      fact(facts, "result", c.result + (c.rolled_back ? " (rolled back)" : ""));
      fact(facts, "hosts", c.hosts ? c.hosts.map(function (h) {
        return h.host + " " + (h.previous || "-") + " \u2192 " + (h.target || "-") + " (" + h.status + ")";
      }).join("; ") : c.host_count);
      if (c.record_url) {
        var link = el("a", c.deployment_id || "deployments of " + c.service);
        link.href = c.record_url;
        link.id = "change-record";
        fact(facts, "record", link);
      }
    }
    fact(facts, "comment", c.comment);
    panel.appendChild(facts);
    if (!deploy) { panel.appendChild(diffBlock(c.diff)); }
    if (c.figures) {
      panel.appendChild(el("h3", c.service + ": " + c.figures.window_minutes + " minutes before and after" +
                           (deploy ? ", by service.version" : "")));
      panel.appendChild(figuresTable(c.figures));
    } else {
      panel.appendChild(el("p", "no service to take figures from", "note"));
    }
    panel.setAttribute("data-change-id", c.id);
    panel.setAttribute("data-loaded", "true");
  }
  function panelNear(box) {
    var panel = document.getElementById("change-panel");
    if (!panel) {
      panel = el("aside", null, "change-panel");
      panel.id = "change-panel";
      box.parentNode.insertBefore(panel, box.nextSibling);
    }
    return panel;
  }
  window.oamChangePanel = {
    open: function (box, id) {
      var panel = panelNear(box);
      panel.hidden = false;
      panel.removeAttribute("data-loaded");
      panel.textContent = "loading change " + id + "\u2026";
      fetch("/api/changes/" + encodeURIComponent(id), {credentials: "same-origin"})
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (answer) {
          if (!answer.ok) { panel.textContent = answer.body.error || "the change could not be loaded"; return; }
          render(panel, answer.body);
        });
    }
  };
})();
