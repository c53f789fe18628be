// Draws the dashboard charts from the JSON blocks the page carries (no inline script: CSP).
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const labels = JSON.parse(document.getElementById("chart-labels").textContent);
  const draw = (id, option) => {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({ animation: false, tooltip: {} }, typeof option === "function" ? option(el) : option));
    el.dataset.drawn = "1";
    window.addEventListener("resize", () => chart.resize());
  };
  // On a phone the labels around the ring ran off the screen's edges ("…" on one side,
  // cut on the other): there each state and its count is a legend line below the ring.
  // 480 px: a threshold chosen between a phone's chart (390 px), where they ran off, and
  // the desk's half-width chart (about 600 px), where they fit.
  const states = data.states.filter(([, v]) => v > 0).map(([k, v]) => ({ name: labels.states[k] || k, value: v }));
  draw("chart-states", (el) => {
    if (el.clientWidth >= 480) return { series: [{ type: "pie", radius: ["35%", "70%"], data: states }] };
    const count = Object.fromEntries(states.map((d) => [d.name, d.value]));
    return {
      legend: { bottom: 0, formatter: (name) => `${name} ${count[name]}` },
      series: [{ type: "pie", radius: ["30%", "60%"], center: ["50%", "42%"], label: { show: false }, data: states }],
    };
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
