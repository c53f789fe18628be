// Draws the dashboard charts from the JSON blocks the page carries (no inline script: CSP).
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const labels = JSON.parse(document.getElementById("chart-labels").textContent);
  const draw = (id, option) => {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({ animation: false, tooltip: {} }, option));
    el.dataset.drawn = "1";
    window.addEventListener("resize", () => chart.resize());
  };
  draw("chart-states", {
    series: [{
      type: "pie", radius: ["35%", "70%"],
      data: data.states.filter(([, v]) => v > 0).map(([k, v]) => ({ name: labels.states[k] || k, value: v })),
    }],
  });
  draw("chart-burndown", {
    xAxis: { type: "category", data: data.burndown.map((d) => d[0]) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "line", name: labels.open, data: data.burndown.map((d) => d[1]), areaStyle: {} }],
  });
  draw("chart-units", {
    grid: { left: 160 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: data.units.map((u) => u[0]).reverse() },
    series: [{ type: "bar", name: labels.overdue, data: data.units.map((u) => u[1]).reverse(), itemStyle: { color: "#d9a400" } }],
  });
  draw("chart-categories", {
    xAxis: { type: "category", data: data.categories.map((c) => c[0]) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: labels.overdue, data: data.categories.map((c) => c[1]), itemStyle: { color: "#b00" } }],
  });
})();
