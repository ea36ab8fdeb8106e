// The supervisors' dashboard (stats/templates/stats/dashboard.html): each chart
// is drawn from the table beside it, so the table stays the one source of its
// numbers. A figure's chart is marked data-rendered once Chart.js has drawn it.
(function () {
  "use strict";

  // Colours that stay apart for the common colour blindnesses (Okabe-Ito).
  var COLOURS = ["#0072b2", "#009e73", "#d55e00", "#cc79a7", "#e69f00", "#56b4e9"];

  function valueOf(cell, unit) {
    var raw = cell.getAttribute("data-value");
    if (raw === null || raw === "") return null;  // no figure: a gap, not a zero
    var value = Number(raw);
    return unit === "percent" ? Math.round(value * 1000) / 10 : value;
  }

  function readTable(table) {
    var columns = Array.prototype.map.call(
      table.querySelectorAll("thead th[data-series]"),
      function (th) {
        return {
          title: th.textContent.trim(),
          unit: th.getAttribute("data-unit"),
          axis: th.getAttribute("data-axis"),
          draw: th.getAttribute("data-draw"),
        };
      }
    );
    var labels = [];
    var values = columns.map(function () { return []; });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var cells = row.querySelectorAll("td[data-value]");
      if (cells.length !== columns.length) return;  // the "nothing" row
      labels.push(row.querySelector("th").textContent.trim());
      columns.forEach(function (column, index) {
        values[index].push(valueOf(cells[index], column.unit));
      });
    });
    return { columns: columns, labels: labels, values: values };
  }

  function scale(unit, position, stacked) {
    // grace: the tallest bar stops short of the top, where a line's point may sit.
    var options = { position: position, beginAtZero: true, stacked: stacked,
                    grace: "10%", ticks: { precision: 0 } };
    if (unit === "percent") {
      options.max = 100;
      options.grace = 0;
      options.ticks = { callback: function (v) { return v + " %"; } };
    } else if (unit === "rating") {
      options.min = 0;
      options.max = 5;
      options.grace = 0;
      options.grid = { drawOnChartArea: false };
    } else if (unit === "seconds") {
      options.ticks = { callback: function (v) { return v + " s"; } };
      options.grid = { drawOnChartArea: false };
    }
    return options;
  }

  function draw(figure) {
    var table = figure.querySelector("table");
    var canvas = figure.querySelector("canvas");
    var data = readTable(table);
    var stacked = figure.hasAttribute("data-stacked");
    var horizontal = figure.hasAttribute("data-horizontal");
    var kind = figure.getAttribute("data-kind");
    var scales = {};
    var valueAxis = horizontal ? "x" : "y";
    var labelAxis = horizontal ? "y" : "x";
    scales[labelAxis] = { stacked: stacked, ticks: { autoSkip: true } };
    if (horizontal) {
      // A long category would push the bars off a phone: the table says it whole.
      scales[labelAxis].ticks.callback = function (value) {
        var words = this.getLabelForValue(value);
        return words.length > 22 ? words.slice(0, 21) + "…" : words;
      };
    }
    var datasets = data.columns.map(function (column, index) {
      var axis = column.axis === "y1" ? "y1" : valueAxis;
      if (!scales[axis]) {
        scales[axis] = scale(column.unit, axis === "y1" ? "right" : (horizontal ? "bottom" : "left"), stacked);
      }
      var colour = COLOURS[index % COLOURS.length];
      var dataset = {
        label: column.title,
        data: data.values[index],
        backgroundColor: colour,
        borderColor: colour,
        spanGaps: false,
        maxBarThickness: 48,  // one or two bars stay bars, not blocks
      };
      dataset[horizontal ? "xAxisID" : "yAxisID"] = axis;
      if (column.draw) {
        dataset.type = column.draw;
        dataset.order = -1;  // the line over the bars
      }
      if ((column.draw || kind) === "line") {
        dataset.pointRadius = 4;
        dataset.clip = false;  // a point at the scale's top is drawn whole
        dataset.tension = 0.2;
      }
      return dataset;
    });
    new window.Chart(canvas, {
      type: kind,
      data: { labels: data.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,  // printed or read at once, never performed
        scales: scales,
        plugins: { legend: { position: "bottom" } },
      },
    });
    figure.setAttribute("data-rendered", "true");
  }

  function drawAll() {
    if (!window.Chart) return;  // the tables alone still say everything
    document.querySelectorAll(".stats-dashboard figure[data-chart]").forEach(draw);
  }

  // A printed chart is redrawn at the paper's width, then back at the screen's.
  function resizeAll() {
    Object.values(window.Chart.instances).forEach(function (chart) { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll();
    if (window.Chart) {
      window.addEventListener("beforeprint", resizeAll);
      window.addEventListener("afterprint", resizeAll);
    }
  });
})();
