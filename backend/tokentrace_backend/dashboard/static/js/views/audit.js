// The audit trail: records by sequence number, each chained to the one before by its hash,
// and the signed checkpoints. `tokentrace audit verify` checks the chain and signatures.

import { get } from "../api.js";
import { clear, empty, h, table, tokenLink, whenNs } from "../dom.js";

const KINDS = [
  "token.first_use", "token.new_network", "lifecycle.recorded", "lifecycle.registered",
  "finding.opened", "finding.state_changed", "token.erased", "retention.run",
];

export async function renderAudit(view, _argument, context) {
  const kind = h("select", { id: "filter-audit-kind" }, h("option", { value: "" }, "any kind"), KINDS.map((k) => h("option", { value: k }, k)));
  const token = h("input", { type: "search", id: "filter-audit-token", placeholder: "token id", maxlength: 32 });
  const key = h("p", { class: "muted", id: "audit-key" });
  const holder = h("div", { id: "audit" });
  view.append(h("h1", {}, "Audit trail"), h("form", { class: "filters" }, kind, token), key, holder);

  async function load() {
    const tokenId = token.value.trim().toLowerCase();
    const page = await get("audit", {
      kind: kind.value,
      token_id: /^[0-9a-f]{32}$/.test(tokenId) ? tokenId : "",
      since: context.since(),
      limit: 500,
    });
    key.textContent = page.public_key
      ? `Checkpoints signed with Ed25519 public key ${page.public_key}. Verify with: tokentrace audit verify`
      : "Checkpoints are not signed (no TOKENTRACE_AUDIT_KEY). Verify the hash chain with: tokentrace audit verify";
    const records = [...page.records].reverse();
    clear(holder,
      page.next_offset !== null ? h("p", { class: "muted" }, "The 500 oldest records of the window; narrow it to see later ones, or export them all with tokentrace audit export.") : null,
      records.length ? table([
        { label: "Seq", class: "n", value: (r) => r.seq },
        { label: "At", value: (r) => whenNs(r.at) },
        { label: "Kind", value: (r) => r.kind },
        { label: "Token", value: (r) => (r.token_id ? tokenLink(r.token_id) : "-") },
        { label: "Body", value: (r) => h("code", {}, JSON.stringify(r.body)) },
        { label: "Hash", value: (r) => h("span", { class: "mono", title: r.hash }, r.hash.slice(0, 12)) },
      ], records, { id: "audit-records" }) : empty("No audit record matches."),
      h("h2", {}, "Checkpoints"),
      page.checkpoints.length ? table([
        { label: "Seq", class: "n", value: (c) => c.seq },
        { label: "At", value: (c) => whenNs(c.at) },
        { label: "Hash", value: (c) => h("span", { class: "mono", title: c.hash }, c.hash.slice(0, 12)) },
        { label: "Signature", value: (c) => h("span", { class: "mono", title: c.signature }, c.signature.slice(0, 16)) },
      ], page.checkpoints) : empty("No checkpoint covers these records yet."));
  }
  kind.addEventListener("change", () => load());
  token.addEventListener("input", () => load());
  await load();
  return { refresh: () => Promise.resolve() };
}
