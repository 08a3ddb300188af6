// Draws every <canvas data-chart> with Chart.js (loaded from /static/vendor on demand).
// A canvas gives either one series (data-values) or several (data-datasets: [{label, data,
// color, dashed}]); data-stacked stacks bars; data-unit="fen" shows money as yuan. Panels
// swapped in by htmx (e.g. the live campaign page's polling) get their charts drawn too.
(function () {
  var COLORS = ["#e53935", "#fb8c00", "#43a047", "#1e88e5", "#8e24aa", "#546e7a"];

  // Money travels as integer fen; only the label shows yuan.
  function yuan(ctx) {
    var name = ctx.dataset.label ? " " + ctx.dataset.label + ":" : "";
    return name + " ¥" + (ctx.raw / 100).toFixed(2);
  }

  function datasets(el) {
    if (!el.dataset.datasets) {
      return [{ data: JSON.parse(el.dataset.values || "[]"), backgroundColor: COLORS }];
    }
    return JSON.parse(el.dataset.datasets).map(function (set, i) {
      var color = set.color || COLORS[i % COLORS.length];
      return {
        label: set.label, data: set.data, backgroundColor: color, borderColor: color,
        borderDash: set.dashed ? [6, 4] : [], pointRadius: 0, borderWidth: 2,
      };
    });
  }

  function draw() {
    document.querySelectorAll("canvas[data-chart]:not([data-rendered])").forEach(function (el) {
      var type = el.dataset.chart;
      var several = !!el.dataset.datasets;
      var fen = el.dataset.unit === "fen";
      var stacked = el.dataset.stacked === "true";
      var axes = type === "bar" || type === "line";
      new window.Chart(el, {
        type: type,
        data: { labels: JSON.parse(el.dataset.labels || "[]"), datasets: datasets(el) },
        options: {
          plugins: {
            legend: { display: several || !axes },
            tooltip: fen ? { callbacks: { label: yuan } } : {},
          },
          animation: false,
          maintainAspectRatio: false,
          scales: axes ? {
            x: { stacked: stacked, ticks: { autoSkip: true, maxRotation: 0 } },
            y: { stacked: stacked, beginAtZero: true, ticks: fen
              ? { callback: function (v) { return "¥" + (v / 100).toFixed(0); } }
              : { precision: 0 } },
          } : {},
        },
      });
      el.dataset.rendered = "true";
    });
  }

  var loading = null;
  function withChart(then) {
    if (window.Chart) return then();
    if (!loading) {
      loading = [];
      var script = document.createElement("script");
      script.src = "/static/vendor/chart.umd.min.js";
      script.onload = function () { loading.forEach(function (fn) { fn(); }); };
      document.head.appendChild(script);
    }
    loading.push(then);
  }

  // A swapped-out panel takes its charts with it: free them, or Chart.js keeps them alive.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!window.Chart) return;
    event.detail.target.querySelectorAll("canvas[data-rendered]").forEach(function (el) {
      var chart = window.Chart.getChart(el);
      if (chart) chart.destroy();
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (document.querySelector("canvas[data-chart]:not([data-rendered])")) withChart(draw);
  });

  if (document.querySelector("canvas[data-chart]")) withChart(draw);
})();
