// Deploy or roll back with a confirmation step, then follow the job's progress.
(function () {
  "use strict";
  var box = document.getElementById("deploy-controls");
  if (!box) { return; }
  var token = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var confirmBox = document.getElementById("confirm"), progress = document.getElementById("progress");
  var pending = null;
  function ask(action) {
    var version = document.getElementById("deploy-version").value.trim();
    pending = {action: action, version: version};
    document.getElementById("confirm-text").textContent =
      (action === "deploy" ? "Deploy " + version : "Roll back" + (version ? " to " + version : "")) +
      " on every host of " + box.getAttribute("data-service") + "?";
    confirmBox.hidden = false;
  }
  function follow(url) {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
      progress.textContent = job.lines.join("\n") + "\n" + job.state + (job.error ? ": " + job.error : "") +
        (job.result ? " (" + job.result.result + ")" : "");
      progress.setAttribute("data-state", job.state);
      if (job.state === "running") { window.setTimeout(function () { follow(url); }, 1000); }
    });
  }
  document.getElementById("start-deploy").addEventListener("click", function () { ask("deploy"); });
  document.getElementById("start-rollback").addEventListener("click", function () { ask("rollback"); });
  document.getElementById("confirm-no").addEventListener("click", function () { confirmBox.hidden = true; pending = null; });
  document.getElementById("confirm-yes").addEventListener("click", function () {
    if (!pending) { return; }
    confirmBox.hidden = true;
    var body = {confirm: "yes"};
    if (pending.version) { body.version = pending.version; }
    fetch(box.getAttribute("data-" + pending.action), {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token}, body: JSON.stringify(body)})
      .then(function (r) { return r.json(); })
      .then(function (job) {
        if (job.error && !job.id) { progress.textContent = job.error; progress.setAttribute("data-state", "failed"); return; }
        progress.textContent = "started " + job.id;
        follow("/api/jobs/" + encodeURIComponent(job.id));
      });
  });
})();
