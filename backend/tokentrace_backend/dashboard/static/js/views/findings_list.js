// Findings as a table, with acknowledge / resolve / reopen: the findings view and the
// token page both show them this way.

import { send } from "../api.js";
import { ago, badge, h, tokenLink, traceLink, when } from "../dom.js";

const NEXT = {
  open: [["acknowledged", "Acknowledge"], ["resolved", "Resolve"]],
  acknowledged: [["resolved", "Resolve"], ["open", "Reopen"]],
  resolved: [["open", "Reopen"]],
};

function evidenceTraces(finding) {
  const ids = (finding.evidence && finding.evidence.trace_ids) || [];
  return ids.slice(0, 3).map((id) => h("div", {}, traceLink(String(id))));
}

function actions(finding, changed) {
  return (NEXT[finding.state] || []).map(([state, label]) =>
    h("button", {
      type: "button",
      class: "small",
      "data-action": state,
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          await send("PATCH", `anomalies/${finding.id}`, { state, actor: "dashboard" });
          await changed();
        } catch (error) {
          event.target.disabled = false;
          event.target.after(h("span", { class: "error" }, String(error.message || error)));
        }
      },
    }, label));
}

export function findingsTable(findings, changed, { withToken = true } = {}) {
  if (!findings.length) return h("p", { class: "muted", "data-empty": "findings" }, "No findings.");
  return h("table", { class: "findings" },
    h("thead", {}, h("tr", {}, ["Severity", "Kind", withToken ? "Token / address" : null, "Summary", "Evidence", "Last seen", "State", ""]
      .filter((label) => label !== null).map((label) => h("th", {}, label)))),
    h("tbody", {}, findings.map((f) => h("tr", { "data-finding-id": f.id, "data-kind": f.kind, "data-state": f.state },
      h("td", {}, badge(f.severity, `severity-${f.severity}`)),
      h("td", {}, f.kind),
      withToken ? h("td", {}, f.token_id ? tokenLink(f.token_id) : h("span", { class: "mono" }, f.client_address || "-")) : null,
      h("td", {}, f.summary),
      h("td", {}, evidenceTraces(f)),
      h("td", { title: when(f.last_seen) }, ago(f.last_seen)),
      h("td", { "data-column": "state" }, f.state, f.state_changed_by ? h("div", { class: "muted" }, `by ${f.state_changed_by}`) : null),
      h("td", {}, actions(f, changed))))));
}
