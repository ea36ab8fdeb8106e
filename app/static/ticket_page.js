// The ticket page (app/templates/tickets): htmx sends its forms and swaps the
// ticket's part of the page. A refusal comes back as a 4xx carrying that part
// (the reason beside its form, what was typed kept): show it, as the page
// without JavaScript does. Any other error answer is left to htmx.
document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("Ecoute-Partial") === "ticket") {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// After a swap the button pressed is gone: give the focus to what the action
// said (done, or refused), so a keyboard or a screen reader carries on there.
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id !== "ticket") return;
  const said = event.detail.target.querySelector("#ticket-done, .flash.error[role=alert]");
  if (said) {
    if (!said.hasAttribute("tabindex")) said.setAttribute("tabindex", "-1");
    said.focus();
  }
});
