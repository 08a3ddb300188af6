// Draws every <canvas data-chart> with Chart.js (loaded from /static/vendor on demand).
(function () {
  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (el) {
      var labels = JSON.parse(el.dataset.labels || "[]");
      var values = JSON.parse(el.dataset.values || "[]");
      new window.Chart(el, {
        type: el.dataset.chart,
        data: { labels: labels, datasets: [{ data: values,
          backgroundColor: ["#e53935", "#fb8c00", "#43a047", "#1e88e5", "#8e24aa", "#546e7a"] }] },
        options: { plugins: { legend: { display: el.dataset.chart !== "bar" } }, animation: false },
      });
    });
  }
  if (!document.querySelector("canvas[data-chart]")) return;
  var script = document.createElement("script");
  script.src = "/static/vendor/chart.umd.min.js";
  script.onload = draw;
  document.head.appendChild(script);
})();
