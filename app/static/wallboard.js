// The live wallboard (stats/templates/stats/wallboard.html). htmx swaps the
// tiles in every few seconds; between two swaps the durations tick here, from
// the seconds the server counted (so the browser's clock never matters), and a
// board that stopped receiving tiles says so instead of passing old figures
// off as live.
(function () {
  "use strict";
  var STALE_MS = 20000; // about four polls missed
  var swappedAt = Date.now();

  function two(number) {
    return (number < 10 ? "0" : "") + number;
  }

  // As stats.wallboard.clock: mm:ss, h:mm:ss from an hour on.
  function clock(total) {
    total = Math.max(0, Math.round(total));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor(total / 60);
    if (hours) {
      return hours + ":" + two(minutes % 60) + ":" + two(total % 60);
    }
    return two(minutes) + ":" + two(total % 60);
  }

  function tick() {
    var live = document.getElementById("wallboard-live");
    var notice = document.getElementById("wallboard-stale");
    if (!live || !notice) {
      return;
    }
    var elapsed = (Date.now() - swappedAt) / 1000;
    live.querySelectorAll("[data-seconds]").forEach(function (element) {
      element.textContent = clock(Number(element.dataset.seconds) + elapsed);
    });
    var stale = Date.now() - swappedAt > STALE_MS;
    notice.hidden = !stale;
    live.classList.toggle("stale", stale);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "wallboard-live") {
      swappedAt = Date.now();
      tick();
    }
  });
  setInterval(tick, 1000);
})();
