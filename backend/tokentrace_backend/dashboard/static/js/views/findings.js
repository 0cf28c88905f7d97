// Findings: what the detectors found, by state, kind and severity; acknowledge, resolve.

import { get } from "../api.js";
import { clear, h } from "../dom.js";
import { findingsTable } from "./findings_list.js";

const KINDS = [
  "new_endpoint", "new_network", "odd_hours", "burst", "error_spike", "auth_failure_burst",
  "credential_stuffing", "scope_violation", "use_after_expiry", "use_after_revocation",
  "shared_token", "token_in_url",
];

export async function renderFindings(view) {
  const state = h("select", { id: "filter-state" },
    ["open", "acknowledged", "resolved", ""].map((s) => h("option", { value: s }, s || "any state")));
  const kind = h("select", { id: "filter-kind" }, h("option", { value: "" }, "any kind"), KINDS.map((k) => h("option", { value: k }, k)));
  const severity = h("select", { id: "filter-severity" }, ["low", "medium", "high", "critical"].map((s) => h("option", { value: s }, `${s} and above`)));
  const holder = h("div", { id: "findings" });
  view.append(h("h1", {}, "Findings"), h("form", { class: "filters" }, state, kind, severity), holder);

  async function load() {
    const page = await get("anomalies", { state: state.value, kind: kind.value, severity: severity.value, limit: 500 });
    clear(holder, findingsTable(page.findings, load));
  }
  for (const select of [state, kind, severity]) select.addEventListener("change", () => load());
  await load();
  return { refresh: (changed) => (changed.findings ? load() : Promise.resolve()) };
}
