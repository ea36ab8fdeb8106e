// The monthly report's "Print / save as PDF" button (stats/report.html): shown
// only where script runs, since without it the page says how to print instead.
document.querySelectorAll(".report-print").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
