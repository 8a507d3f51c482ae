// Shared behaviour: auto-refresh of the current page, confirmation of dangerous forms.
(function () {
  "use strict";
  var refresh = document.getElementById("refresh");
  if (refresh) {
    refresh.addEventListener("change", function () { refresh.form.submit(); });
    var seconds = parseInt(refresh.value, 10);
    if (seconds > 0) { window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
  }
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
