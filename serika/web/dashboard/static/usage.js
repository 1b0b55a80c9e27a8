// Usage charts: Chart.js (vendored) fed from the data-usage attribute the server renders.
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw(root) {
    if (typeof window.Chart === "undefined") return;
    var holder = root.querySelector("[data-usage]");
    if (!holder) return;
    var data = JSON.parse(holder.getAttribute("data-usage"));
    var accent = cssVar("--accent", "#4f46e5");
    var text = cssVar("--muted", "#5b6275");
    var grid = cssVar("--border", "#dde1ec");
    holder.querySelectorAll("canvas[data-series]").forEach(function (canvas) {
      var existing = window.Chart.getChart(canvas);
      if (existing) existing.destroy();
      var series = canvas.getAttribute("data-series");
      var money = series === "cost";
      new window.Chart(canvas, {
        type: series === "total_tokens" || money ? "line" : "bar",
        data: {
          labels: data.labels,
          datasets: [{
            label: canvas.getAttribute("data-label"),
            data: data[series],
            backgroundColor: accent,
            borderColor: accent,
            borderWidth: 2,
            pointRadius: data.labels.length > 14 ? 0 : 3,
            tension: 0,
            maxBarThickness: 28
          }]
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          plugins: { legend: { display: false } },
          scales: {
            x: {
              ticks: {
                color: text,
                maxRotation: 0,
                autoSkip: true,
                maxTicksLimit: 8,
                // "11-27" on the axis; the tooltip keeps the full date.
                callback: function (value) { return String(this.getLabelForValue(value)).slice(5); }
              },
              grid: { display: false }
            },
            y: {
              beginAtZero: true,
              ticks: { color: text, precision: money ? undefined : 0 },
              grid: { color: grid }
            }
          }
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
