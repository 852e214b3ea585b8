/*
 * The panel surface: a shell that accepts typing at once, and a dumb renderer of what the Python
 * runtime (in the Web Worker started here) tells it. Message text only ever goes in as text.
 */
import { HOST_TO_PANEL, RUNTIME_TO_PANEL, VERSION, connectHost } from "./bridge.js";
import { t } from "./strings.js";

const $ = (id) => document.getElementById(id);
const list = $("messages");
const form = $("composer");
const input = $("composer-text");
const statusLine = $("panel-status");
const STATUS_TEXT = {
  idle: "loading", connecting: "connecting", authenticating: "connecting", ready: "online",
  reconnecting: "reconnecting", closed: "closed",
};

let locale = "en";
let visibility = "minimized";
let status = "idle";
let worker = null;
const beforeBoot = []; /* what the visitor did before the runtime started: replayed in order */
const nodes = new Map(); /* render key -> <li> */
let shownSeq = 0; /* highest seq rendered */
let reported = ""; /* the last ui.shown sent, as "seq:seen" */

const sendHost = connectHost(HOST_TO_PANEL, (msg) => {
  if (msg.type === "host.state") applyHostState(msg.state || {});
  else if (msg.type === "host.boot") boot(msg.config);
});

function toRuntime(message) {
  message.v = VERSION;
  if (worker) worker.postMessage(JSON.stringify(message));
  else beforeBoot.push(message);
}

function boot(config) {
  if (worker) return;
  worker = new Worker(new URL("worker.js", import.meta.url), { type: "module", name: "porch-runtime" });
  worker.addEventListener("message", (event) => receiveRuntime(event.data));
  worker.addEventListener("error", (event) => {
    console.error("[porch] the runtime worker failed:", event.message);
    sendHost("runtime.event", {
      name: "bootstrap_failed",
      payload: { reason: "runtime_failed", source: "worker", mode: "embedded" },
    });
  });
  toRuntime({ type: "runtime.start", config: Object.assign({}, config, { locale }) });
  beforeBoot.splice(0).forEach(toRuntime);
}

function receiveRuntime(text) {
  let msg;
  try { msg = JSON.parse(text); } catch (err) { msg = null; }
  if (!msg || msg.v !== VERSION || !RUNTIME_TO_PANEL.includes(msg.type)) {
    console.warn("[porch] dropped a runtime message that failed validation");
    return;
  }
  if (msg.type === "host.event") sendHost("runtime.event", { name: msg.name, payload: msg.payload });
  else if (msg.type === "render.message") renderMessage(msg.key, msg.message);
  else if (msg.type === "render.status") renderStatus(msg.status);
  else if (msg.type === "render.locale") applyLocale(msg.locale);
  else console.info("[porch runtime]", msg.text);
}

/* --- host state -------------------------------------------------------------------------- */

function applyHostState(state) {
  document.documentElement.dataset.theme = state.theme === "dark" ? "dark" : "light";
  if (state.locale && state.locale !== locale) {
    applyLocale(state.locale);
    toRuntime({ type: "ui.locale", locale: state.locale });
  }
  if (state.visibility && state.visibility !== visibility) {
    visibility = state.visibility;
    if (visibility === "maximized") requestAnimationFrame(() => input.focus());
    reportShown();
  }
}

function applyLocale(next) {
  locale = next;
  document.documentElement.lang = next;
  document.title = t(locale, "title");
  document.querySelectorAll("[data-text]").forEach((el) => { el.textContent = t(locale, el.dataset.text); });
  document.querySelectorAll("[data-placeholder]").forEach((el) => { el.placeholder = t(locale, el.dataset.placeholder); });
  document.querySelectorAll("[data-label]").forEach((el) => { el.setAttribute("aria-label", t(locale, el.dataset.label)); });
  document.querySelectorAll("[data-title]").forEach((el) => { el.title = t(locale, el.dataset.title); });
  renderStatus(status);
  nodes.forEach((li) => renderMeta(li));
}

/* --- rendering ---------------------------------------------------------------------------- */

function renderStatus(next) {
  status = next;
  statusLine.dataset.state = next;
  statusLine.textContent = t(locale, STATUS_TEXT[next] || "loading");
}

function renderMessage(key, message) {
  let li = nodes.get(key);
  if (!li) {
    li = document.createElement("li");
    li.className = "message";
    li.dataset.key = key;
    const text = document.createElement("span");
    text.className = "message-text";
    const meta = document.createElement("span");
    meta.className = "message-meta";
    li.append(text, meta);
    nodes.set(key, li);
  }
  li.dataset.author = message.author;
  li.dataset.state = message.state;
  if (message.seq !== null && message.seq !== undefined) {
    li.dataset.seq = String(message.seq);
    shownSeq = Math.max(shownSeq, message.seq);
  }
  li.dataset.authorName = message.author_name || "";
  li.querySelector(".message-text").textContent = message.text;
  renderMeta(li);
  place(li);
  if (visibility === "maximized") li.scrollIntoView({ block: "end" });
  queueMicrotask(reportShown);
}

/* The runtime owns the unread count, and counts only what this page reports it has rendered;
 * read means seen: rendered into an open panel of a visible tab. One report per batch. */
function reportShown() {
  const seen = visibility === "maximized" && document.visibilityState === "visible";
  const report = shownSeq + ":" + seen;
  if (shownSeq === 0 || report === reported) return;
  reported = report;
  toRuntime({ type: "ui.shown", seq: shownSeq, seen });
}
document.addEventListener("visibilitychange", reportShown);

function renderMeta(li) {
  const meta = li.querySelector(".message-meta");
  if (li.dataset.state === "failed") {
    meta.textContent = "";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = t(locale, "failed");
    retry.addEventListener("click", () => toRuntime({ type: "ui.retry", client_id: li.dataset.key.split(":")[1] }));
    meta.append(retry);
    return;
  }
  const who = li.dataset.author === "visitor" ? t(locale, "you") : (li.dataset.authorName || t(locale, "agent"));
  meta.textContent = li.dataset.state === "sending" ? who + " · " + t(locale, "sending") : who;
}

/* Keep the list ordered by seq, with unsent messages after every stored one, in typing order. */
function place(li) {
  const seq = li.dataset.seq === undefined ? Infinity : Number(li.dataset.seq);
  if (seq === Infinity && li.parentNode === list) return;
  const next = Array.from(list.children).find((other) => other !== li &&
    !other.classList.contains("greeting") &&
    (other.dataset.seq === undefined ? seq !== Infinity : Number(other.dataset.seq) > seq));
  if (next) { if (li.nextSibling !== next) list.insertBefore(li, next); }
  else if (list.lastElementChild !== li) list.append(li);
}

/* --- visitor input ------------------------------------------------------------------------ */

function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  const clientId = newClientId();
  input.value = "";
  renderMessage("visitor:" + clientId, { author: "visitor", text, seq: null, state: "sending" });
  toRuntime({ type: "ui.send", client_id: clientId, text });
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});
document.addEventListener("keydown", (event) => {
  /* Escape minimizes (focus goes back to the launcher), unless it is closing an IME candidate list. */
  if (event.key === "Escape" && !event.isComposing) {
    event.preventDefault();
    sendHost("panel.minimize");
  }
});
$("minimize").addEventListener("click", () => sendHost("panel.minimize"));

renderStatus("idle");
sendHost("panel.ready");
