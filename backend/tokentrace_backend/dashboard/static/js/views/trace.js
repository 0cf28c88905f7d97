// A trace as a waterfall: every span, in call order, a bar for when it ran within the
// trace; a click shows its attributes and events. With TOKENTRACE_JAEGER_URL, a link to
// the same trace in Jaeger.

import { HEX_32, get } from "../api.js";
import { badge, h, ms, tokenLink, when } from "../dom.js";

function callOrder(spans) {
  const ids = new Set(spans.map((span) => span.span_id));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    if (span.parent_span_id && ids.has(span.parent_span_id)) {
      if (!children.has(span.parent_span_id)) children.set(span.parent_span_id, []);
      children.get(span.parent_span_id).push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
  const ordered = [];
  const seen = new Set();
  const walk = (span, depth) => {
    if (seen.has(span.span_id)) return; // a cycle of parent ids: show each span once
    seen.add(span.span_id);
    ordered.push([span, depth]);
    for (const child of (children.get(span.span_id) || []).sort(byStart)) walk(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) walk(root, 0);
  for (const span of spans) if (!seen.has(span.span_id)) walk(span, 0);
  return ordered;
}

function details(span) {
  const facts = [
    ["span id", span.span_id], ["parent", span.parent_span_id || "-"], ["kind", span.kind],
    ["start", when(span.start)], ["duration", ms(span.duration_ms)], ["status", span.status],
    ["status message", span.status_message], ["HTTP", [span.http_method, span.http_route || span.url_path, span.http_status].filter(Boolean).join(" ")],
    ["client", [span.client_address, span.user_agent].filter(Boolean).join(" · ")],
    ["peer / db / server", [span.peer_service, span.db_system, span.server_address, span.messaging_system].filter(Boolean).join(" · ")],
    ["auth outcome", span.auth_outcome], ["error", [span.error_type, span.error_message].filter(Boolean).join(": ")],
  ].filter(([, value]) => value);
  const attributes = Object.entries(span.attributes || {});
  return h("div", { class: "span-details" },
    h("dl", { class: "facts" }, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
      span.token_id ? [h("dt", {}, "token"), h("dd", {}, tokenLink(span.token_id))] : null,
      !span.token_id && span.linked_token_id ? [h("dt", {}, "token (linked)"), h("dd", {}, tokenLink(span.linked_token_id))] : null),
    attributes.length ? h("table", { class: "attributes" }, h("tbody", {}, attributes.map(([name, value]) =>
      h("tr", {}, h("td", { class: "mono" }, name), h("td", {}, typeof value === "string" ? value : JSON.stringify(value)))))) : null,
    (span.events || []).length ? h("div", {}, h("h4", {}, "Events"), span.events.map((event) => h("pre", {}, JSON.stringify(event, null, 2)))) : null);
}

export async function renderTrace(view, traceId) {
  const id = String(traceId).toLowerCase();
  if (!HEX_32.test(id)) {
    view.append(h("div", { class: "error", role: "alert" }, "A trace id is 32 hex characters."));
    return null;
  }
  const trace = await get(`traces/${id}`);
  const spans = trace.spans;
  const starts = spans.map((span) => new Date(span.start).getTime());
  const begin = Math.min(...starts);
  const end = Math.max(...spans.map((span, i) => starts[i] + span.duration_ms));
  const total = Math.max(end - begin, 0.001);
  const rows = callOrder(spans).map(([span, depth]) => {
    const offset = ((new Date(span.start).getTime() - begin) / total) * 100;
    const width = Math.max((span.duration_ms / total) * 100, 0.3);
    const bar = h("div", { class: span.status === "error" ? "bar failed" : "bar" });
    bar.style.marginLeft = `${offset}%`;
    bar.style.width = `${Math.min(width, 100 - offset)}%`;
    const name = h("td", { class: "span-name" }, span.name);
    name.style.paddingLeft = `${0.4 + depth * 1.1}rem`;
    const row = h("tr", { class: "span", "data-span-id": span.span_id, tabindex: 0 },
      h("td", {}, span.service), name, h("td", { class: "n" }, ms(span.duration_ms)),
      h("td", {}, span.status === "error" ? badge("error", "bad") : span.status),
      h("td", { class: "timeline-cell" }, bar));
    const more = h("tr", { class: "span-more", hidden: true }, h("td", { colspan: 5 }, details(span)));
    const toggle = () => { more.hidden = !more.hidden; };
    row.addEventListener("click", toggle);
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") toggle(); });
    return [row, more];
  });
  view.append(
    h("h1", {}, "Trace ", h("span", { class: "mono" }, id)),
    h("p", {}, `${spans.length} spans · ${ms(total)} · started ${when(new Date(begin).toISOString())}`,
      trace.tokens.length ? [" · tokens ", trace.tokens.map((t) => [tokenLink(t), " "])] : null,
      trace.jaeger_url ? [" · ", h("a", { href: trace.jaeger_url, target: "_blank", rel: "noopener noreferrer", id: "jaeger-link" }, "open in Jaeger")] : null),
    h("table", { class: "waterfall", id: "waterfall" },
      h("thead", {}, h("tr", {}, ["Service", "Span", "Duration", "Status", "When"].map((label) => h("th", {}, label)))),
      h("tbody", {}, rows)),
    h("p", { class: "muted" }, "Click a span for its attributes and events."));
  return null;
}
