// A token's page: requests over time, routes, clients, downstream errors, its dependency
// map, findings, lifecycle, audit records and the one-token report.

import { HEX_32, SignInNeeded, get } from "../api.js";
import { badge, clear, count, empty, h, ms, section, table, wideSection, tokenLink, traceLink, when, whenNs } from "../dom.js";
import { timelineChart } from "../chart.js";
import { dependencyGraph } from "../graph.js";
import { findingsTable } from "./findings_list.js";

async function settle(promises) {
  const results = await Promise.allSettled(promises);
  for (const result of results) {
    if (result.status === "rejected" && result.reason instanceof SignInNeeded) throw result.reason;
  }
  return results.map((result) => (result.status === "fulfilled" ? result.value : { failed: result.reason }));
}

function problem(value) {
  return h("p", { class: "error" }, String((value.failed && value.failed.message) || value.failed));
}

function states(summary, lifecycle) {
  const marks = [];
  if (lifecycle && !lifecycle.failed) {
    if (lifecycle.expired) marks.push(badge("expired", "bad"));
    if (lifecycle.states.expiring_soon) marks.push(badge("expiring soon", "warn"));
    if (lifecycle.states.rotated_still_used) marks.push(badge("rotated, still used", "bad"));
    if (lifecycle.states.stale) marks.push(badge("stale", "warn"));
    if (lifecycle.rotation && lifecycle.rotation.event === "revoked") marks.push(badge("revoked", "bad"));
  }
  const outcomes = summary.outcomes || [];
  for (const o of outcomes) marks.push(badge(`${o.outcome || "unknown"} ${count(o.requests)}`, o.outcome === "success" ? "ok" : "bad"));
  return h("div", { class: "badges", id: "token-states" }, marks);
}

function lifecycleSection(lifecycle) {
  if (lifecycle.failed) return section("Lifecycle", problem(lifecycle));
  const rotation = lifecycle.rotation;
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Expires"), h("dd", {}, lifecycle.expires_at ? when(lifecycle.expires_at) : "no expiry known"),
    h("dt", {}, "First used"), h("dd", {}, when(lifecycle.first_used)),
    h("dt", {}, "Last used"), h("dd", {}, when(lifecycle.last_used)),
    rotation ? [
      h("dt", {}, rotation.event === "revoked" ? "Revoked" : "Rotated"), h("dd", {}, when(rotation.at), ` (${rotation.source})`),
      rotation.new_token_id ? [h("dt", {}, "Replaced by"), h("dd", {}, tokenLink(rotation.new_token_id))] : null,
      h("dt", {}, "Requests after it"), h("dd", { id: "requests-after-rotation" }, count(rotation.requests_after)),
      h("dt", {}, "Rotation lag"), h("dd", { id: "rotation-lag" }, rotation.lag_ms === null ? "-" : ms(rotation.lag_ms)),
    ] : null);
  const clients = rotation && rotation.clients.length
    ? [h("h3", {}, "Clients still using it after the rotation"),
      table([
        { label: "Address", value: (c) => c.address || "-" },
        { label: "User agent", value: (c) => c.user_agent || "-" },
        { label: "Requests", class: "n", value: (c) => count(c.requests) },
        { label: "Last used", value: (c) => when(c.last_used) },
      ], rotation.clients)]
    : null;
  const events = lifecycle.events.length
    ? table([
      { label: "Event", value: (e) => e.event },
      { label: "At", value: (e) => when(e.at) },
      { label: "Source", value: (e) => e.source },
      { label: "Actor", value: (e) => e.actor || "-" },
      { label: "Trace", value: (e) => (e.trace_id ? traceLink(e.trace_id) : "-") },
    ], lifecycle.events)
    : empty("No lifecycle event recorded or registered.");
  return section("Lifecycle", facts, clients, h("h3", {}, "Events"), events);
}

export async function renderToken(view, tokenId, context) {
  const id = String(tokenId).toLowerCase();
  if (!HEX_32.test(id)) {
    view.append(h("div", { class: "error", role: "alert" }, "A token id is 32 hex characters."));
    return null;
  }
  const head = h("div", { class: "token-head" });
  const chart = h("div", { id: "timeline" });
  const findingsHolder = h("div", { id: "token-findings" });
  const rest = h("div", { class: "grid" });
  view.append(head, section("Requests over time, by outcome", chart), section("Findings", findingsHolder), rest);

  async function loadFindings() {
    const page = await get("anomalies", { token_id: id, limit: 100 });
    clear(findingsHolder, findingsTable(page.findings, loadFindings, { withToken: false }));
  }

  async function loadTimeline(summary) {
    const timeline = await get(`tokens/${id}/timeline`, { since: context.since() });
    clear(chart, timelineChart(timeline, Math.max(400, view.clientWidth - 48)));
    return summary;
  }

  async function load() {
    const since = context.since();
    const [summary, errors, graph, lifecycle, audit] = await settle([
      get(`tokens/${id}`, { since }),
      get(`tokens/${id}/errors`, { since, limit: 50 }),
      get(`tokens/${id}/dependencies`, { since, layout: true }),
      get(`tokens/${id}/lifecycle`),
      get("audit", { token_id: id, limit: 50 }),
    ]);
    if (summary.failed) {
      clear(head, h("h1", {}, "Token ", h("span", { class: "mono" }, id)), problem(summary));
      return;
    }
    clear(head,
      h("h1", {}, "Token ", h("span", { class: "mono", id: "token-id" }, id)),
      h("p", {}, summary.owner ? `Owner ${summary.owner}` : "No owner recorded", summary.name ? ` · ${summary.name}` : "",
        summary.key_ids.length ? ` · hash key ${summary.key_ids.join(", ")}` : "",
        ` · ${count(summary.requests)} requests · p50 ${ms(summary.latency.p50_ms)} · p95 ${ms(summary.latency.p95_ms)}`),
      states(summary, lifecycle),
      h("p", {}, h("a", { href: `/api/tokens/${id}/report?format=html`, target: "_blank", rel: "noopener", id: "report-link" }, "The one-token report (for a ticket)"),
        " · ", h("a", { href: `/api/tokens/${id}/report`, target: "_blank", rel: "noopener" }, "as JSON")));
    await loadTimeline();
    await loadFindings();
    clear(rest,
      wideSection("Downstream errors", errors.failed ? problem(errors) : errors.errors.length ? table([
        { label: "Service", value: (e) => e.service },
        { label: "Span", value: (e) => e.span_name },
        { label: "Error", value: (e) => e.error_type || "error" },
        { label: "Message", value: (e) => e.message || "-" },
        { label: "Count", class: "n", value: (e) => count(e.count) },
        { label: "Last seen", value: (e) => when(e.last_seen) },
        { label: "Traces", value: (e) => e.trace_ids.slice(0, 3).map((t) => h("div", {}, traceLink(t))) },
      ], errors.errors, { id: "token-errors" }) : empty("No failing span in this token's traces.")),
      wideSection("Dependency map", graph.failed ? problem(graph) : dependencyGraph(graph)),
      section("Routes", table([
        { label: "Service", value: (r) => r.service },
        { label: "Route", value: (r) => `${r.method || ""} ${r.route || "-"}` },
        { label: "Requests", class: "n", value: (r) => count(r.requests) },
        { label: "Errors", class: "n", value: (r) => count(r.errors) },
        { label: "Denied", class: "n", value: (r) => count(r.denied) },
      ], summary.routes)),
      section("Clients and networks", table([
        { label: "Address", value: (c) => c.address || "-" },
        { label: "User agent", value: (c) => c.user_agent || "-" },
        { label: "Requests", class: "n", value: (c) => count(c.requests) },
        { label: "First seen", value: (c) => when(c.first_seen) },
        { label: "Last seen", value: (c) => when(c.last_seen) },
      ], summary.clients, { id: "token-clients" })),
      lifecycleSection(lifecycle),
      section("Audit records", audit.failed ? problem(audit) : audit.records.length ? table([
        { label: "Seq", class: "n", value: (r) => r.seq },
        { label: "At", value: (r) => whenNs(r.at) },
        { label: "Kind", value: (r) => r.kind },
        { label: "Body", value: (r) => h("code", {}, JSON.stringify(r.body)) },
      ], audit.records) : empty("No audit record about this token.")),
    );
  }

  await load();
  return {
    refresh: async (changed) => {
      if (changed.requests) await load();
      else if (changed.findings) await loadFindings();
    },
  };
}
