// Building the page: every value goes in as text (a Text node or an attribute), never as
// markup. Span names, attributes, owners and messages are attacker-controlled.

const SVG_NS = "http://www.w3.org/2000/svg";

function put(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "href") {
      element.setAttribute("href", safeHref(String(value)));
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(shown(child)));
  }
  return element;
}

/** An HTML element: h("td", {class: "n"}, "12"). */
export function h(tag, attributes, ...children) {
  return put(document.createElement(tag), attributes, children);
}

/** An SVG element. */
export function s(tag, attributes, ...children) {
  return put(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** Links go to the dashboard's own views or to http(s) pages, nothing else. */
export function safeHref(href) {
  if (href.startsWith("#/") || href.startsWith("/api/")) return href;
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : "#";
  } catch {
    return "#";
  }
}

/** Text as shown: control and format characters (escapes, bidi overrides) made visible. */
export function shown(value) {
  return String(value).replace(/[\p{Cc}\p{Cf}]/gu, (char) => {
    const code = char.codePointAt(0).toString(16).padStart(4, "0");
    return `\\u${code}`;
  });
}

export function clear(element, ...children) {
  element.replaceChildren();
  return put(element, {}, children);
}

export function when(iso) {
  if (!iso) return "-";
  const date = new Date(iso);
  return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(iso) {
  if (!iso) return "-";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function count(value) {
  return Number(value || 0).toLocaleString("en-US");
}

export function ms(value) {
  if (value === null || value === undefined) return "-";
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${value.toFixed(1)} ms`;
  return `${(value / 1000).toFixed(2)} s`;
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""}`.trim() }, text);
}

export function tokenLink(tokenId) {
  return h("a", { class: "mono", href: `#/tokens/${tokenId}` }, tokenId);
}

export function traceLink(traceId) {
  return h("a", { class: "mono", href: `#/traces/${traceId}` }, traceId.slice(0, 16) + "…");
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

/** A section across the whole width of a grid. */
export function wideSection(title, ...children) {
  return h("section", { class: "card wide" }, h("h2", {}, title), ...children);
}

export function empty(text) {
  return h("p", { class: "muted" }, text);
}

/** A table: columns [{label, value(row) -> node|text, class?, sort?(row) -> key}]. */
export function table(columns, rows, attributes) {
  return h(
    "table",
    attributes || {},
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { class: column.class }, column.label)))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", {}, columns.map((column) => h("td", { class: column.class }, column.value(row))))),
    ),
  );
}

/** A unix-nanoseconds instant (the audit trail's `at`). */
export function whenNs(ns) {
  return ns === null || ns === undefined ? "-" : when(new Date(Number(ns) / 1e6).toISOString());
}
