// A dependency graph drawn as SVG from the API's layered layout (?layout=true): services
// as boxes, databases and other systems as rounded pills, one arrow per edge labelled with
// its calls, errors and p95. Names are text nodes; nothing is parsed as markup.

import { count, h, ms, s } from "./dom.js";

function shorten(text, width) {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

export function dependencyGraph(graph) {
  const layout = graph.layout;
  if (!layout) return h("p", { class: "muted" }, "No calls between services in this window.");
  const kinds = Object.fromEntries(graph.nodes.map((node) => [node.name, node.kind]));
  const at = Object.fromEntries(layout.positions.map((p) => [p.name, p]));
  const w = layout.node_width;
  const half = layout.node_height / 2;
  const extra = 24; // room for the labels above the first row
  const svg = s("svg", {
    class: "graph",
    role: "img",
    "aria-label": "dependency map",
    width: layout.width,
    height: layout.height + extra,
    viewBox: `0 ${-extra} ${layout.width} ${layout.height + extra}`,
  });
  svg.append(
    s("defs", {},
      s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head" }))),
  );
  for (const edge of graph.edges) {
    if (edge.source === edge.target) continue;
    const from = at[edge.source];
    const to = at[edge.target];
    const x1 = from.x + w;
    const y1 = from.y + half;
    const x2 = to.x;
    const y2 = to.y + half;
    const bend = Math.max(30, (x2 - x1) / 2);
    const calls = `${count(edge.calls)} calls · ${count(edge.errors)} errors`;
    const p95 = `p95 ${ms(edge.p95_ms)}`;
    const label = `${calls} · ${p95}`;
    const mx = (x1 + x2) / 2;
    const my = (y1 + y2) / 2;
    svg.append(
      s("g", { class: edge.errors ? "edge failed" : "edge", "data-source": edge.source, "data-target": edge.target },
        s("title", {}, `${edge.source} → ${edge.target}: ${label}`),
        s("path", { d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)" }),
        s("text", { x: mx, y: my - 18, "text-anchor": "middle", class: "edge-label" }, calls),
        s("text", { x: mx, y: my - 6, "text-anchor": "middle", class: "edge-label" }, p95)),
    );
  }
  for (const position of layout.positions) {
    const kind = kinds[position.name];
    svg.append(
      s("g", { class: `node ${kind}`, "data-node": position.name },
        s("title", {}, `${position.name} (${kind})`),
        s("rect", { x: position.x, y: position.y, width: w, height: layout.node_height, rx: kind === "service" ? 4 : 14 }),
        s("text", { x: position.x + w / 2, y: position.y + half + 4, "text-anchor": "middle" }, shorten(position.name, 22))),
    );
  }
  return h("div", { class: "graph-holder" }, svg);
}

export function edgeTable(graph) {
  return h("table", { class: "edges" },
    h("thead", {}, h("tr", {}, ["From", "To", "Kind", "Calls", "Errors", "p95"].map((label) => h("th", {}, label)))),
    h("tbody", {}, graph.edges.map((edge) => h("tr", {},
      h("td", {}, edge.source), h("td", {}, edge.target), h("td", {}, edge.target_kind),
      h("td", { class: "n" }, count(edge.calls)), h("td", { class: edge.errors ? "n bad" : "n" }, count(edge.errors)),
      h("td", { class: "n" }, ms(edge.p95_ms))))));
}
