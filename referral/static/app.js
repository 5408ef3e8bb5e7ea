// A submitted form's buttons are disabled at once, so a double click sends one request.
// The server refuses a repeat anyway (case version, intake token); this only spares the user a 409.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) { return; }
  var pressed = event.submitter;
  if (pressed && pressed.name && pressed.name.indexOf("agregar-") === 0) { return; }
  if (form.dataset.sent === "1") { event.preventDefault(); return; }
  form.dataset.sent = "1";
  window.setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  }, 0);
});

// «Imprimir» on an instrument's print page; without JavaScript the browser's own print command does the same.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-print]") : null;
  if (button) { window.print(); }
});
