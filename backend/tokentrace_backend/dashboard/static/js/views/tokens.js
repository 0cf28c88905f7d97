// Tokens: every token with requests in the window, sortable, filtered by owner, outcome,
// service and a token id prefix (from `tokentrace hash`; raw tokens are never typed here).

import { HEX_32, get } from "../api.js";
import { ago, badge, clear, count, h, tokenLink } from "../dom.js";

const OUTCOMES = [
  "success", "missing", "malformed", "invalid", "expired", "revoked",
  "insufficient_scope", "forbidden", "rate_limited", "error",
];

const COLUMNS = [
  { key: "token_id", label: "Token", value: (t) => tokenLink(t.token_id), sort: (t) => t.token_id },
  { key: "owner", label: "Owner", value: (t) => t.owner || "-", sort: (t) => (t.owner || "").toLowerCase() },
  { key: "requests", label: "Requests", class: "n", value: (t) => count(t.requests), sort: (t) => t.requests },
  { key: "outcomes", label: "Outcomes", value: outcomes, sort: (t) => denied(t) },
  { key: "errors", label: "Errors", class: "n", value: (t) => (t.errors ? badge(count(t.errors), "bad") : "0"), sort: (t) => t.errors },
  { key: "last_seen", label: "Last seen", value: (t) => h("span", { title: t.last_seen }, ago(t.last_seen)), sort: (t) => t.last_seen },
  { key: "open_findings", label: "Open findings", class: "n", value: (t) => (t.open_findings ? badge(count(t.open_findings), "warn") : "0"), sort: (t) => t.open_findings },
  { key: "services", label: "Services", value: (t) => t.services.join(", "), sort: (t) => t.services.join(",") },
];

function denied(token) {
  return Object.entries(token.outcomes).reduce((sum, [outcome, n]) => sum + (outcome === "success" ? 0 : n), 0);
}

function outcomes(token) {
  return Object.entries(token.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, n]) => badge(`${outcome} ${count(n)}`, outcome === "success" ? "ok" : "bad"));
}

export async function renderTokens(view, _argument, context) {
  const state = { sort: "last_seen", descending: true, tokens: [], more: false };
  const owner = h("input", { type: "search", id: "filter-owner", placeholder: "owner contains…", maxlength: 200 });
  const outcome = h("select", { id: "filter-outcome" }, h("option", { value: "" }, "any outcome"), OUTCOMES.map((o) => h("option", { value: o }, o)));
  const service = h("input", { type: "search", id: "filter-service", placeholder: "service", maxlength: 200 });
  const search = h("input", { type: "search", id: "filter-token", placeholder: "token id (tokentrace hash)", maxlength: 32, pattern: "[0-9a-fA-F]{1,32}" });
  const summary = h("p", { class: "muted", id: "tokens-summary" });
  const holder = h("div", { class: "table-holder" });
  view.append(
    h("h1", {}, "Tokens"),
    h("form", { class: "filters", id: "token-filters", role: "search" }, owner, outcome, service, search),
    summary,
    holder,
  );

  async function load() {
    const prefix = search.value.trim().toLowerCase();
    if (prefix && !/^[0-9a-f]{1,32}$/.test(prefix)) {
      summary.textContent = "A token id is up to 32 hex characters (from tokentrace hash).";
      return;
    }
    const page = await get("tokens", {
      since: context.since(),
      owner: owner.value.trim(),
      outcome: outcome.value,
      service: service.value.trim(),
      token_prefix: prefix,
      limit: 500,
    });
    state.tokens = page.tokens;
    state.more = page.next_offset !== null;
    draw();
  }

  function draw() {
    const column = COLUMNS.find((c) => c.key === state.sort);
    const rows = [...state.tokens].sort((a, b) => {
      const x = column.sort(a);
      const y = column.sort(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return state.descending ? -order : order;
    });
    summary.textContent = `${rows.length}${state.more ? "+" : ""} tokens with requests in the last ${context.since()}` +
      (state.more ? " (the 500 most recently active; narrow the filters)" : "");
    const head = h("tr", {}, COLUMNS.map((c) => {
      const arrow = c.key === state.sort ? (state.descending ? " ▼" : " ▲") : "";
      return h("th", { class: c.class, "data-sort": c.key, "aria-sort": c.key === state.sort ? (state.descending ? "descending" : "ascending") : null },
        h("button", { type: "button", class: "sort", onclick: () => sortBy(c.key) }, c.label + arrow));
    }));
    const body = h("tbody", {}, rows.map((t) => h("tr", { "data-token-id": t.token_id },
      COLUMNS.map((c) => h("td", { class: c.class, "data-column": c.key }, c.value(t))))));
    const content = rows.length
      ? h("table", { id: "tokens-table" }, h("thead", {}, head), body)
      : h("p", { class: "muted", id: "tokens-empty" }, "No token made a request in this window with these filters.");
    clear(holder, content);
  }

  function sortBy(key) {
    state.descending = state.sort === key ? !state.descending : key !== "owner" && key !== "token_id";
    state.sort = key;
    draw();
  }

  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch((error) => { summary.textContent = String(error.message || error); }), 250);
  };
  for (const input of [owner, service]) input.addEventListener("input", later);
  outcome.addEventListener("change", later);
  search.addEventListener("input", later);
  view.querySelector("form").addEventListener("submit", (event) => event.preventDefault());
  search.addEventListener("keydown", (event) => {
    const id = search.value.trim().toLowerCase();
    if (event.key === "Enter" && HEX_32.test(id)) location.hash = `#/tokens/${id}`;
  });
  await load();
  return { refresh: (changed) => (changed.requests || changed.findings ? load() : Promise.resolve()) };
}
