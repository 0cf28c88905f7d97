// The dashboard's shell: sign-in, the routes (#/tokens, #/tokens/<id>, #/traces/<id>,
// #/findings, #/map, #/audit), the time window, and the live updates.

import { ApiError, SignInNeeded, session, signIn, signOut } from "./api.js";
import { clear, empty, h } from "./dom.js";
import { renderAudit } from "./views/audit.js";
import { renderFindings } from "./views/findings.js";
import { renderMap } from "./views/map.js";
import { renderToken } from "./views/token.js";
import { renderTokens } from "./views/tokens.js";
import { renderTrace } from "./views/trace.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
const rangeSelect = document.getElementById("range");
const signOutButton = document.getElementById("sign-out");

const context = {
  since: () => rangeSelect.value,
};

let current = null; // {refresh(changed)} of the view on screen
let events = null;

function route() {
  const hash = location.hash || "#/tokens";
  const [path] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "tokens" && parts[1]) return ["token", renderToken, parts[1]];
  if (parts[0] === "traces" && parts[1]) return ["trace", renderTrace, parts[1]];
  if (parts[0] === "findings") return ["findings", renderFindings, null];
  if (parts[0] === "map") return ["map", renderMap, null];
  if (parts[0] === "audit") return ["audit", renderAudit, null];
  return ["tokens", renderTokens, null];
}

async function show() {
  const [name, render, argument] = route();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === name || (name === "token" && link.dataset.view === "tokens"));
  }
  const view = h("div", { class: "view", "data-view": name });
  clear(main, view);
  current = null;
  try {
    current = await render(view, argument, context);
  } catch (error) {
    failed(view, error);
  }
}

function failed(container, error) {
  if (error instanceof SignInNeeded) {
    showSignIn();
    return;
  }
  const message = error instanceof ApiError ? error.message : String(error);
  clear(container, h("div", { class: "error", role: "alert" }, message));
}

function showSignIn(problem) {
  stopEvents();
  current = null;
  const input = h("input", {
    type: "password",
    id: "api-key",
    name: "key",
    autocomplete: "current-password",
    required: true,
    placeholder: "TOKENTRACE_API_KEY",
  });
  const form = h(
    "form",
    { class: "card sign-in", id: "sign-in" },
    h("h2", {}, "Sign in"),
    h("p", {}, "This tokentrace backend needs its API key. It is sent once and exchanged for a session cookie; it never goes in a URL."),
    h("label", {}, "API key ", input),
    h("button", { type: "submit" }, "Sign in"),
    problem ? h("p", { class: "error", role: "alert" }, problem) : null,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signIn(input.value);
      input.value = "";
      await start();
    } catch (error) {
      showSignIn(error instanceof ApiError ? error.message : String(error));
    }
  });
  clear(main, form);
  input.focus();
}

function stopEvents() {
  if (events !== null) events.close();
  events = null;
  live.textContent = "offline";
  live.className = "live off";
}

function startEvents() {
  stopEvents();
  events = new EventSource("/api/events");
  live.textContent = "live";
  events.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "live on";
  });
  events.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  });
  events.addEventListener("changed", (event) => {
    const changed = JSON.parse(event.data);
    live.textContent = `live · ${new Date().toISOString().slice(11, 19)} UTC`;
    live.className = "live on";
    if (current && typeof current.refresh === "function") {
      current.refresh(changed).catch((error) => {
        if (error instanceof SignInNeeded) showSignIn();
        else console.warn("live update failed", error);
      });
    }
  });
}

async function start() {
  let state;
  try {
    state = await session();
  } catch (error) {
    clear(main, empty(`The API does not answer: ${error}`));
    return;
  }
  signOutButton.hidden = !state.key_required;
  if (!state.signed_in) {
    showSignIn();
    return;
  }
  startEvents();
  await show();
}

window.addEventListener("hashchange", () => show());
rangeSelect.addEventListener("change", () => {
  localStorage.setItem("tokentrace.range", rangeSelect.value);
  show();
});
signOutButton.addEventListener("click", async () => {
  await signOut();
  showSignIn();
});
const savedRange = localStorage.getItem("tokentrace.range");
if (savedRange && [...rangeSelect.options].some((option) => option.value === savedRange)) {
  rangeSelect.value = savedRange;
}
start();
