// Draws every <canvas data-chart> with Chart.js (loaded from /static/vendor on demand).
(function () {
  // Money travels as integer fen; only the label shows yuan.
  function yuan(ctx) {
    return " ¥" + (ctx.raw / 100).toFixed(2);
  }

  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (el) {
      var labels = JSON.parse(el.dataset.labels || "[]");
      var values = JSON.parse(el.dataset.values || "[]");
      new window.Chart(el, {
        type: el.dataset.chart,
        data: { labels: labels, datasets: [{ data: values,
          backgroundColor: ["#e53935", "#fb8c00", "#43a047", "#1e88e5", "#8e24aa", "#546e7a"] }] },
        options: {
          plugins: {
            legend: { display: el.dataset.chart !== "bar" },
            tooltip: el.dataset.unit === "fen" ? { callbacks: { label: yuan } } : {},
          },
          animation: false,
          maintainAspectRatio: false,
          scales: el.dataset.chart === "bar" ? { y: { beginAtZero: true, ticks: { precision: 0 } } } : {},
        },
      });
      el.dataset.rendered = "true";
    });
  }
  if (!document.querySelector("canvas[data-chart]")) return;
  var script = document.createElement("script");
  script.src = "/static/vendor/chart.umd.min.js";
  script.onload = draw;
  document.head.appendChild(script);
})();
