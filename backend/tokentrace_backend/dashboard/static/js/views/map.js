// The global dependency map: every service -> service / database edge in the window.

import { get } from "../api.js";
import { h, section } from "../dom.js";
import { dependencyGraph, edgeTable } from "../graph.js";

export async function renderMap(view, _argument, context) {
  const holder = h("div", { id: "global-map" });
  view.append(h("h1", {}, "Dependency map"), holder);
  async function load() {
    const graph = await get("dependencies", { since: context.since(), layout: true });
    holder.replaceChildren(section("All services", dependencyGraph(graph)), section("Edges", edgeTable(graph)));
  }
  await load();
  return { refresh: (changed) => (changed.requests ? load() : Promise.resolve()) };
}
