/*
 * The panel surface: a shell that accepts typing at once, and a dumb renderer of what the Python
 * runtime (in the Web Worker started here) tells it. Visitor, agent and app text only ever goes in
 * as text (textContent, DOM-built links); what to show when is the runtime's decision.
 */
import {
  HOST_TO_PANEL, POPUP, RUNTIME_TO_PANEL, VERSION, applyAccent, applyLanguage, connectHost,
} from "./bridge.js";
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
const LINK_REL = "noopener noreferrer nofollow";

let locale = "en";
let visibility = "minimized";
let status = "idle";
let pageStatus = "online";
let worker = null; /* booting or booted: on a deliberate intent (host.preboot) or the click */
let runtimeStarted = false; /* the worker has runtime.start: it connects */
let runtimeMounted = false; /* the runtime booted and took runtime.start */
const beforeBoot = []; /* what the visitor did before the runtime started: replayed in order */
const nodes = new Map(); /* render key -> <li> */
let shownSeq = 0; /* highest seq rendered */
let reported = ""; /* the last ui.shown sent, as "seq:seen" */
/* The last of each render the runtime sent, re-applied when the language changes. */
const last = { surface: null, typing: [], conversation: null, uploadError: null, forms: {} };
let endRequested = false; /* the visitor ended the chat here: focus moves to the rating */
/* The page asked for consent first (docs/host-api.md, "Consent"): until the host says storage is
 * allowed, nothing here writes to any storage, and the visitor's first input here is consent. */
let storageAllowed = true;

const sendHost = connectHost(HOST_TO_PANEL, (msg) => {
  if (msg.type === "host.state") applyHostState(msg.state || {});
  else if (msg.type === "host.preboot") startWorker();
  else if (msg.type === "host.boot") boot(msg.config);
  else if (msg.type === "host.release") release();
  else if (msg.type === "host.command") {
    toRuntime({ type: "host.command", id: msg.id, name: msg.name, args: msg.args });
  }
});

/* Messages go to the worker as JSON text; only ui.attach travels as an object, to carry a File. */
function toRuntime(message) {
  message.v = VERSION;
  if (runtimeStarted) worker.postMessage(message.file ? message : JSON.stringify(message));
  else beforeBoot.push(message);
}

/* Named by its content (build_public.py), so a repeat visit takes it from the HTTP cache as is. */
const WORKER = new URL("worker.js?h=__PORCH_WORKER_HASH__", import.meta.url);

/* The worker boots Python and imports the runtime, then waits for runtime.start to connect. */
function startWorker() {
  if (worker) return;
  /* A fragment, so the HTTP cache entry stays the prefetched one: without storage, the worker
   * does not keep the snapshot in Cache Storage (for this runtime's life). */
  const url = storageAllowed ? WORKER : new URL("#no-storage", WORKER);
  worker = new Worker(url, { type: "module", name: "porch-runtime" });
  worker.addEventListener("message", (event) => receiveRuntime(event.data));
  /* Only a failed boot takes the widget down. Once the runtime has mounted, an error that still
   * reaches here (the adapter reports Python's own and goes on: porch_runtime/browser.py) cost
   * one input at most, and the worker handles the next: the visitor keeps their chat. */
  worker.addEventListener("error", (event) => {
    console.error("[porch] the runtime worker failed:", event.message);
    if (runtimeMounted) return;
    sendHost("runtime.event", {
      name: "bootstrap_failed",
      payload: { reason: "runtime_failed", source: "worker", mode: "embedded" },
    });
  });
}

function boot(config) {
  if (runtimeStarted) return;
  startWorker();
  runtimeStarted = true;
  toRuntime({ type: "runtime.start", config: Object.assign({}, config, { locale }) });
  beforeBoot.splice(0).forEach(toRuntime);
}

/* No click came after the pre-boot: the worker goes, and Pyodide's memory with it. */
function release() {
  if (!worker || runtimeStarted) return;
  worker.terminate();
  worker = null;
  console.info("[porch] released the pre-booted runtime: no click followed the intent");
}

/* What the runtime worker fetches first (the same URLs, so the same HTTP cache entries). Fetched
 * on intent, while the pointer rests on the launcher before the click: the worker then finds them
 * in the HTTP cache, or joins the download in flight. Only once this page is there and the panel
 * is still closed: started with the launcher's intent, ~10 MB of downloads held up this page's
 * own requests at the server (measured: composer focused 222 -> 135 ms cross-site, 356 -> 182 ms
 * same-origin, cold, on a loaded machine); after a click the worker fetches them itself. */
const PYODIDE = new URL("../vendor/pyodide/", import.meta.url);
const SNAPSHOT_HASH = "__PORCH_SNAPSHOT_HASH__";
const PREFETCH = [
  WORKER,
  ...["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "__PORCH_BOOT_STDLIB__"]
    .map((name) => new URL(name, PYODIDE)),
];

async function prefetchRuntime() {
  const urls = PREFETCH.slice();
  if (!SNAPSHOT_HASH) {
    /* Only a plain boot reads the runtime's zip: a snapshot has the runtime imported already. */
    urls.push(new URL("porch_runtime.zip?h=__PORCH_RUNTIME_HASH__", import.meta.url));
  } else {
    const snapshot = new URL("snapshot.bin?h=" + SNAPSHOT_HASH, PYODIDE);
    /* Already in the worker's Cache Storage from an earlier visit: nothing to download. */
    const kept = await caches.match(snapshot.href, { cacheName: "porch-snapshot" })
      .catch(() => null); /* match, not open: open would create the cache (a storage write) */
    if (!kept) urls.push(snapshot);
  }
  /* A pre-boot came meanwhile (it follows the intent by 100 ms): the worker fetches them itself. */
  if (worker) return;
  for (const url of urls) {
    /* The browser's own prefetch: straight into the HTTP cache, no byte through this page's
     * JavaScript (which shares the host page's main thread when both are on one site). */
    const link = document.createElement("link");
    link.rel = "prefetch";
    link.href = url.href;
    document.head.append(link);
  }
}

const RENDERERS = {
  "host.event": (msg) => {
    if (msg.name === "runtime_mounted") runtimeMounted = true;
    sendHost("runtime.event", { name: msg.name, payload: msg.payload });
  },
  "host.result": (msg) => {
    sendHost("runtime.result", { id: msg.id, error: msg.error, message: msg.message });
  },
  "render.message": (msg) => {
    const fresh = !nodes.has(msg.key);
    renderMessage(msg.key, msg.message);
    if (fresh && msg.announce === true) announce(nodes.get(msg.key));
  },
  "render.status": (msg) => renderStatus(msg.status),
  "render.page_status": (msg) => { pageStatus = msg.status; renderStatus(status); },
  "render.locale": (msg) => applyLocale(msg.locale),
  "render.surface": (msg) => renderSurface(msg),
  "render.form": (msg) => renderForm(msg),
  "render.conversation": (msg) => renderConversation(msg),
  "render.receipt": (msg) => renderReceipt(msg.key),
  "render.typing": (msg) => renderTyping(msg.names),
  "render.upload_error": (msg) => renderUploadError(msg),
  "render.clear": () => clearMessages(),
  "render.transcript": (msg) => saveFile(msg.name, msg.text),
  "render.deleted": (msg) => {
    const done = $("delete-done");
    done.hidden = false;
    done.dataset.text = msg.error === null ? "deleted"
      : msg.error === "NOT_CONNECTED" ? "not_connected" : "form_failed";
    done.textContent = t(locale, done.dataset.text); /* data-text: a language change rewords it */
    done.focus();
  },
  "runtime.log": (msg) => console.info("[porch runtime]", msg.text),
};

function receiveRuntime(text) {
  let msg;
  try { msg = JSON.parse(text); } catch (err) { msg = null; }
  if (!msg || msg.v !== VERSION || !RUNTIME_TO_PANEL.includes(msg.type)) {
    console.warn("[porch] dropped a runtime message that failed validation");
    return;
  }
  RENDERERS[msg.type](msg);
}

/* --- host state -------------------------------------------------------------------------- */

let prefetched = false;
let modal = false; /* the panel covers a phone's screen: Tab stays inside it */
function applyHostState(state) {
  storageAllowed = state.storage !== false;
  document.documentElement.dataset.theme = state.theme === "dark" ? "dark" : "light";
  modal = state.modal === true && !POPUP;
  $("panel").setAttribute("aria-modal", String(modal));
  applyAccent(state.accent);
  applyGreeting(state.greeting);
  if (!prefetched && !worker && state.visibility !== "maximized") {
    prefetched = true;
    prefetchRuntime();
  }
  if (state.locale && state.locale !== locale) {
    applyLocale(state.locale);
    toRuntime({ type: "ui.locale", locale: state.locale });
  }
  /* A pop-out window is always open: it is its own window, whatever the page's widget does. */
  if (POPUP) state = Object.assign({}, state, { visibility: "maximized" });
  if (state.visibility && state.visibility !== visibility) {
    visibility = state.visibility;
    /* Focus at once; a frame the host has only just shown may take it only from its next frame. */
    if (visibility === "maximized" && !focusSurface()) requestAnimationFrame(focusSurface);
    reportShown();
  }
}

/* A widget's own greeting replaces the translated default; without one, the default is back. */
function applyGreeting(greeting) {
  const text = document.querySelector(".greeting .message-text");
  if (typeof greeting === "string" && greeting) {
    delete text.dataset.text;
    text.textContent = greeting;
  } else if (!text.dataset.text) {
    text.dataset.text = "greeting";
    text.textContent = t(locale, "greeting");
  }
}

function applyLocale(next) {
  locale = next;
  applyLanguage(next);
  document.title = t(locale, "title");
  document.querySelectorAll("[data-text]").forEach((el) => { el.textContent = t(locale, el.dataset.text); });
  document.querySelectorAll("[data-placeholder]").forEach((el) => { el.placeholder = t(locale, el.dataset.placeholder); });
  document.querySelectorAll("[data-label]").forEach((el) => { el.setAttribute("aria-label", t(locale, el.dataset.label)); });
  document.querySelectorAll("[data-title]").forEach((el) => { el.title = t(locale, el.dataset.title); });
  renderStatus(status);
  nodes.forEach((li) => { renderMeta(li); if (li.message) renderBody(li, li.message); });
  renderTyping(last.typing);
  if (last.surface) renderSurface(last.surface, true);
  Object.values(last.forms).forEach((msg) => renderForm(msg, true));
  if (last.uploadError) renderUploadError(last.uploadError);
  const receipt = list.querySelector(".message-receipt");
  if (receipt) receipt.textContent = t(locale, "seen");
}

/* --- rendering ---------------------------------------------------------------------------- */

/* The header: the connection state until connected, then the page status (online/away/offline). */
function renderStatus(next) {
  status = next;
  statusLine.dataset.state = next;
  if (next === "ready") {
    statusLine.dataset.pageStatus = pageStatus;
    statusLine.textContent = t(locale, "status_" + pageStatus);
  } else {
    delete statusLine.dataset.pageStatus;
    statusLine.textContent = t(locale, STATUS_TEXT[next] || "loading");
  }
}

function renderMessage(key, message) {
  let li = nodes.get(key);
  if (!li) {
    li = document.createElement("li");
    /* System events (an agent joined, the chat ended) are notices in the log, not messages. */
    li.className = message.author === "system" ? "notice" : "message";
    li.dataset.key = key;
    const text = document.createElement("span");
    text.className = "message-text";
    const meta = document.createElement("span");
    meta.className = "message-meta";
    li.append(text, meta);
    nodes.set(key, li);
  }
  li.message = message;
  li.dataset.author = message.author;
  li.dataset.state = message.state;
  if (message.seq !== null && message.seq !== undefined) {
    li.dataset.seq = String(message.seq);
    shownSeq = Math.max(shownSeq, message.seq);
  }
  li.dataset.authorName = message.author_name || "";
  renderBody(li, message);
  renderMeta(li);
  place(li);
  if (visibility === "maximized") scrollIntoViewSoon(li);
  queueMicrotask(reportShown);
}

/* A message that just arrived, said once by screen readers: who, then what (the log itself is
 * silent, so neither a history load nor a re-render of a delivery state is read out). */
function announce(li) {
  const who = li.dataset.author === "system" ? "" : li.querySelector(".message-meta").textContent + ": ";
  const file = li.querySelector(".message-file");
  $("announcer").textContent = who + (li.querySelector(".message-text").textContent ||
    (file ? file.textContent : ""));
}

/* Scrolling lays the panel out: once per frame for the last message rendered, not once per
 * message (a page on the widget's own site shares its main thread with this one). */
let scrollTarget = null;
function scrollIntoViewSoon(li) {
  if (!scrollTarget) {
    requestAnimationFrame(() => {
      if (scrollTarget.isConnected) scrollTarget.scrollIntoView({ block: "end" });
      scrollTarget = null;
    });
  }
  scrollTarget = li;
}

/* The bubble: system events worded in the visitor's language, text with its links, a file. */
function renderBody(li, message) {
  const text = li.querySelector(".message-text");
  text.replaceChildren();
  /* What people wrote runs in its own direction, judged from its first strong character (Hebrew
   * in an English panel, English in an Arabic one); notices worded here run the page's way. */
  if (message.event) text.removeAttribute("dir");
  else text.dir = "auto";
  if (message.event) {
    const wording = t(locale, "event_" + message.event, { name: message.agent_name || t(locale, "agent") });
    text.textContent = wording === undefined ? (message.text || "") : wording;
  } else if (message.parts) {
    message.parts.forEach((part) => text.append(part.href ? link(part.href, part.text) : part.text));
  } else {
    text.textContent = message.text || "";
  }
  let file = li.querySelector(".message-file");
  if (!message.file) { if (file) file.remove(); return; }
  if (!file) {
    file = document.createElement("span");
    file.className = "message-file";
    li.insertBefore(file, li.querySelector(".message-meta"));
  }
  file.replaceChildren(fileView(message.file));
}

/* A link built from DOM nodes; only http(s) URLs get an href, anything else stays text. */
function link(href, text) {
  let url = null;
  try { url = new URL(href); } catch (err) { url = null; }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) return document.createTextNode(text);
  const a = document.createElement("a");
  a.href = url.href;
  a.rel = LINK_REL;
  a.target = "_blank";
  a.textContent = text;
  return a;
}

function fileView(file) {
  const caption = file.name + " (" + formatSize(file.size) + ")";
  const anchor = file.url ? link(file.url, "") : null;
  if (!anchor || anchor.nodeType !== Node.ELEMENT_NODE) return document.createTextNode(caption);
  if (file.thumbnail) {
    const img = document.createElement("img");
    img.className = "message-thumb";
    img.src = anchor.href;
    img.alt = "";
    img.loading = "lazy";
    anchor.append(img);
  } else {
    anchor.download = file.name;
  }
  const name = document.createElement("span");
  name.textContent = caption;
  anchor.append(name);
  return anchor;
}

function formatSize(bytes) {
  const [unit, value] = bytes >= 1048576 ? ["megabyte", bytes / 1048576]
    : bytes >= 1024 ? ["kilobyte", bytes / 1024] : ["byte", bytes];
  return new Intl.NumberFormat(locale, { style: "unit", unit, maximumFractionDigits: 1 }).format(value);
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
  const state = li.dataset.state;
  if (state === "failed") {
    meta.textContent = "";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = t(locale, li.message && li.message.file ? "upload_failed" : "failed");
    retry.addEventListener("click", () => toRuntime({ type: "ui.retry", client_id: li.dataset.key.split(":")[1] }));
    meta.append(retry);
    return;
  }
  if (li.dataset.author === "system") { meta.textContent = ""; return; }
  const who = li.dataset.author === "visitor" ? t(locale, "you") : (li.dataset.authorName || t(locale, "agent"));
  const progress = { sending: "sending", uploading: "uploading" }[state];
  meta.textContent = progress ? who + " · " + t(locale, progress) : who;
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

/* A new conversation replaced the ended one. */
function clearMessages() {
  nodes.forEach((li) => li.remove());
  nodes.clear();
  shownSeq = 0;
  reported = "";
}

function renderReceipt(key) {
  list.querySelectorAll(".message-receipt").forEach((el) => el.remove());
  const li = key && nodes.get(key);
  if (!li) return;
  const receipt = document.createElement("span");
  receipt.className = "message-receipt";
  receipt.textContent = t(locale, "seen");
  li.append(receipt);
}

function renderTyping(names) {
  last.typing = names;
  const line = $("typing");
  line.hidden = names.length === 0;
  line.textContent = names.length === 0 ? ""
    : names.length === 1 ? t(locale, "typing", { name: names[0] }) : t(locale, "typing_many");
}

/* --- surfaces: the composer, or a form in its place ---------------------------------------- */

function renderSurface(msg, relabel) {
  const previous = last.surface && last.surface.surface;
  last.surface = msg;
  const surface = msg.surface;
  form.hidden = surface !== "chat";
  $("prechat").hidden = surface !== "prechat";
  $("offline-form").hidden = surface !== "offline";
  $("offline-done").hidden = surface !== "offline_sent";
  $("offline-done").textContent = msg.offline_message || t(locale, "offline_thanks");
  if (surface === "prechat" && (relabel || previous !== surface)) {
    buildFields($("prechat-fields"), "prechat", msg.fields);
  }
  if (surface === "offline" && (relabel || previous !== surface)) {
    buildFields($("offline-contact"), "offline", [
      { name: "name", label: t(locale, "field_name"), kind: "text", required: true, options: [] },
      { name: "email", label: t(locale, "field_email"), kind: "email", required: true, options: [] },
      { name: "message", label: t(locale, "field_message"), kind: "textarea", required: true, options: [] },
    ]);
    buildFields($("offline-questions"), "offline-q", msg.fields);
  }
  /* A form that appears takes focus in an open panel; the composer already had it at first. */
  const first = previous === null && surface === "chat";
  if (!relabel && !first && previous !== surface && visibility === "maximized") focusSurface();
}

function focusSurface() {
  const surface = last.surface ? last.surface.surface : "chat";
  const target = surface === "prechat" ? $("prechat").querySelector("input, select, textarea")
    : surface === "offline" ? $("offline-name")
    : surface === "offline_sent" ? $("offline-done") : input;
  if (target) target.focus();
  return Boolean(target) && document.activeElement === target && document.hasFocus();
}

/* One labelled control per field, keeping what the visitor already typed (a language change
 * rebuilds the labels). Validation is the runtime's; the browser's own bubbles are off. */
function buildFields(container, prefix, fields) {
  const typed = {};
  container.querySelectorAll("[name]").forEach((el) => { typed[el.name] = el.value; });
  container.replaceChildren();
  fields.forEach((field) => {
    const id = prefix === "offline" ? "offline-" + field.name : prefix + "-" + container.children.length;
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = field.label;
    if (field.required) {
      const mark = document.createElement("span");
      mark.className = "required-mark";
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = " *";
      label.append(mark);
    }
    let control;
    if (field.kind === "textarea") {
      control = document.createElement("textarea");
      control.rows = 3;
    } else if (field.kind === "select") {
      control = document.createElement("select");
      const choose = document.createElement("option");
      choose.value = "";
      choose.textContent = t(locale, "choose");
      control.append(choose);
      field.options.forEach((value) => {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = value;
        control.append(option);
      });
    } else {
      control = document.createElement("input");
      control.type = { email: "email", phone: "tel" }[field.kind] || "text";
      control.autocomplete = { name: "name", email: "email" }[field.name] || (field.kind === "email" ? "email" : "off");
    }
    control.id = id;
    control.name = field.name;
    if (field.required) control.setAttribute("aria-required", "true");
    if (typed[field.name] !== undefined) control.value = typed[field.name];
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = id + "-error";
    error.hidden = true;
    control.setAttribute("aria-describedby", error.id);
    wrap.append(label, control, error);
    container.append(wrap);
  });
}

const FORM_IDS = { prechat: "prechat", offline: "offline-form" };

function renderForm(msg, relabel) {
  last.forms[msg.form] = msg;
  const element = $(FORM_IDS[msg.form]);
  const submit = element.querySelector("button[type=submit]");
  submit.disabled = msg.state === "sending";
  element.setAttribute("aria-busy", String(msg.state === "sending"));
  let firstInvalid = null;
  element.querySelectorAll("[name]").forEach((control) => {
    const code = msg.errors[control.name];
    const error = $(control.id + "-error");
    control.toggleAttribute("aria-invalid", Boolean(code));
    error.hidden = !code;
    error.textContent = code ? t(locale, "error_" + code) : "";
    if (code && !firstInvalid) firstInvalid = control;
  });
  const general = $(msg.form + "-error");
  general.hidden = msg.state !== "error";
  general.dataset.error = msg.error || "";
  general.textContent = msg.state !== "error" ? ""
    : t(locale, msg.error === "NOT_CONNECTED" ? "not_connected" : "form_failed");
  if (!relabel && msg.state === "invalid" && firstInvalid) firstInvalid.focus();
}

function answersOf(container) {
  const answers = {};
  container.querySelectorAll("[name]").forEach((el) => { answers[el.name] = el.value; });
  return answers;
}

$("prechat").addEventListener("submit", (event) => {
  event.preventDefault();
  toRuntime({ type: "ui.prechat", answers: answersOf($("prechat-fields")) });
});
$("offline-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const contact = answersOf($("offline-contact"));
  toRuntime({
    type: "ui.offline", name: contact.name || "", email: contact.email || "",
    message: contact.message || "", questions: answersOf($("offline-questions")),
  });
});

/* --- ending and rating -------------------------------------------------------------------- */

function renderConversation(msg) {
  const previous = last.conversation;
  last.conversation = msg;
  $("end-chat").hidden = !msg.can_end;
  if (!msg.can_end) closeConfirm("end", false);
  $("download-chat").hidden = $("delete-chat").hidden = !msg.has_history;
  if (!msg.has_history) closeConfirm("delete", false);
  if (msg.has_history) $("delete-done").hidden = true;
  $("attach").hidden = !msg.can_upload;
  $("rating").hidden = !msg.ended;
  $("rating-prompt").hidden = msg.rating !== "prompt";
  $("rating-thanks").hidden = msg.rating !== "thanks";
  if (msg.rating === "prompt" && (!previous || previous.rating !== "prompt")) {
    choose(null);
    $("rating-comment").value = "";
    if (endRequested) $("rate-like").focus();
  }
  if (msg.rating === "thanks" && previous && previous.rating === "prompt") $("rating-thanks").focus();
  if (!msg.ended) endRequested = false;
}

/* A question under the header ("end" or "delete"), asked by its header button. */
function openConfirm(name) {
  $(name + "-confirm").hidden = false;
  $(name + "-confirm-no").focus();
}

function closeConfirm(name, refocus) {
  if ($(name + "-confirm").hidden) return;
  $(name + "-confirm").hidden = true;
  if (refocus) $(name + "-chat").focus();
}

$("end-chat").addEventListener("click", () => openConfirm("end"));
$("end-confirm-no").addEventListener("click", () => closeConfirm("end", true));
$("end-confirm-yes").addEventListener("click", () => {
  endRequested = true;
  $("end-confirm").hidden = true;
  input.focus(); /* the end button disappears; the rating takes focus when it appears */
  toRuntime({ type: "ui.end" });
});

/* --- the visitor's copy of the conversation, and its deletion ------------------------------ */

$("delete-chat").addEventListener("click", () => openConfirm("delete"));
$("delete-confirm-no").addEventListener("click", () => closeConfirm("delete", true));
$("delete-confirm-yes").addEventListener("click", () => {
  $("delete-confirm").hidden = true;
  input.focus(); /* the delete button disappears with the conversation */
  toRuntime({ type: "ui.delete" });
});
/* The transcript is the runtime's text; the browser saves it as a file. */
$("download-chat").addEventListener("click", () => toRuntime({ type: "ui.transcript" }));
function saveFile(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

let chosenRating = null;
function choose(value) {
  chosenRating = value;
  document.querySelectorAll("[data-rating]").forEach((button) => {
    button.setAttribute("aria-pressed", String(Number(button.dataset.rating) === value));
  });
  $("rating-submit").disabled = value === null;
}
document.querySelectorAll("[data-rating]").forEach((button) => {
  button.addEventListener("click", () => choose(Number(button.dataset.rating)));
});
$("rating-submit").addEventListener("click", () => {
  if (chosenRating === null) return;
  toRuntime({ type: "ui.rate", rating: chosenRating, comment: $("rating-comment").value });
});

/* --- files -------------------------------------------------------------------------------- */

function renderUploadError(msg) {
  last.uploadError = msg;
  const line = $("upload-error");
  line.hidden = false;
  line.dataset.error = msg.error;
  line.textContent = t(locale, "upload_" + msg.error, { name: msg.name, size: formatSize(msg.max_bytes) });
}

function clearUploadError() {
  last.uploadError = null;
  $("upload-error").hidden = true;
  $("upload-error").textContent = "";
}

$("attach").addEventListener("click", () => $("attach-input").click());
$("attach-input").addEventListener("change", () => {
  clearUploadError();
  Array.from($("attach-input").files).forEach((file) => {
    toRuntime({ type: "ui.attach", upload_id: newClientId(), file });
  });
  $("attach-input").value = ""; /* the same file can be picked again */
  input.focus();
});

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
  clearUploadError();
  renderMessage("visitor:" + clientId, { author: "visitor", text, seq: null, state: "sending" });
  toRuntime({ type: "ui.send", client_id: clientId, text });
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});
/* Every keystroke is reported; the runtime decides when the agent hears "typing" and "stopped". */
input.addEventListener("input", () => toRuntime({ type: "ui.typing", typing: input.value.trim() !== "" }));
input.addEventListener("blur", () => toRuntime({ type: "ui.typing", typing: false }));
/* Over a phone's whole screen the panel is a modal dialog: Tab from its last control comes back to
 * its first (and Shift+Tab the other way) instead of leaving for the page hidden behind it. */
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || !modal || visibility !== "maximized") return;
  const controls = Array.from($("panel").querySelectorAll(
    "button, textarea, input, select, a[href], [tabindex]:not([tabindex='-1'])",
  )).filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0);
  const edge = event.shiftKey ? controls[0] : controls[controls.length - 1];
  if (controls.length && (document.activeElement === edge || !$("panel").contains(document.activeElement))) {
    event.preventDefault();
    (event.shiftKey ? controls[controls.length - 1] : controls[0]).focus();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.isComposing) return;
  event.preventDefault();
  /* Escape backs out of an open question (end, delete) first; otherwise it minimizes (focus
   * goes back to the launcher), unless it is closing an IME candidate list. */
  if (!$("end-confirm").hidden) closeConfirm("end", true);
  else if (!$("delete-confirm").hidden) closeConfirm("delete", true);
  else minimize();
});
/* In a pop-out window, minimizing closes the window (the page's widget stays as it was). */
function minimize() {
  if (POPUP) window.close();
  else sendHost("panel.minimize");
}
$("minimize").addEventListener("click", minimize);

/* The visitor's first own input in the panel is their consent to storage (when the page asked). */
function interacted(event) {
  if (!event.isTrusted || storageAllowed) return;
  storageAllowed = true;
  sendHost("panel.interaction");
}
document.addEventListener("pointerdown", interacted, true);
document.addEventListener("keydown", interacted, true);

renderStatus("idle");
sendHost("panel.ready");
