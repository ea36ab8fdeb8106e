// htmx swaps no error answer by itself. A form refused for its CSRF token comes
// back as a 400 that names where it goes (HX-Retarget): that one is shown, so
// what was typed is not lost behind a click that seems to do nothing.
document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  if (xhr.status === 400 && xhr.getResponseHeader("HX-Retarget")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
