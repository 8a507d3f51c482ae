// Shared behaviour: auto-refresh of the current page, confirmation of dangerous forms.
(function () {
  "use strict";
  var refresh = document.getElementById("refresh");
  if (refresh) {
    refresh.addEventListener("change", function () { refresh.form.submit(); });
    var seconds = parseInt(refresh.value, 10);
    if (seconds > 0) { window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
  }
  // The page's range goes along on the navigation links, so another page shows the same window.
  var current = new URLSearchParams(window.location.search), carried = new URLSearchParams();
  ["from", "to", "refresh"].forEach(function (name) { if (current.get(name)) { carried.set(name, current.get(name)); } });
  if (carried.toString()) {
    document.querySelectorAll("nav a").forEach(function (link) {
      link.setAttribute("href", link.getAttribute("href").split("?")[0] + "?" + carried.toString());
    });
  }
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
