// Requests over time by auth outcome, drawn by uPlot (vendor/uPlot.iife.min.js) on a
// canvas. Buckets without requests are zeros.

import { h } from "./dom.js";

const COLOURS = {
  success: "#2b8a3e", expired: "#e67700", revoked: "#c92a2a", invalid: "#a61e4d",
  insufficient_scope: "#5f3dc4", missing: "#868e96", malformed: "#495057",
  forbidden: "#862e9c", rate_limited: "#1864ab", error: "#d9480f",
};

export function timelineChart(timeline, width) {
  const holder = h("div", { class: "chart", id: "timeline-chart" });
  const since = new Date(timeline.since).getTime() / 1000;
  const until = new Date(timeline.until).getTime() / 1000;
  const step = timeline.bucket_seconds;
  const xs = [];
  for (let t = since; t < until; t += step) xs.push(t);
  const outcomes = [...new Set(timeline.buckets.flatMap((b) => Object.keys(b.outcomes)))].sort();
  const index = new Map(xs.map((t, i) => [Math.round(t), i]));
  const series = outcomes.map(() => xs.map(() => 0));
  for (const bucket of timeline.buckets) {
    const i = index.get(Math.round(new Date(bucket.start).getTime() / 1000));
    if (i === undefined) continue;
    outcomes.forEach((outcome, j) => { series[j][i] = bucket.outcomes[outcome] || 0; });
  }
  if (typeof window.uPlot !== "function" || !outcomes.length) {
    holder.append(h("p", { class: "muted" }, "No requests in this window."));
    return holder;
  }
  const bars = window.uPlot.paths.bars({ size: [0.8, 40] });
  const options = {
    width: width || 900,
    height: 220,
    scales: { x: { time: true } },
    axes: [{}, { label: "requests" }],
    series: [
      { label: "time" },
      ...outcomes.map((outcome) => ({
        label: outcome,
        stroke: COLOURS[outcome] || "#333",
        fill: `${COLOURS[outcome] || "#333333"}55`,
        paths: bars,
        points: { show: false },
      })),
    ],
  };
  holder.uplot = new window.uPlot(options, [xs, ...series], holder);
  return holder;
}
