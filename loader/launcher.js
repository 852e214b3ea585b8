/* The launcher surface: one button. core.js owns the state; this page only draws it. */
import { HOST_TO_LAUNCHER, connectHost } from "./bridge.js";
import { t } from "./strings.js";

const button = document.getElementById("launcher");
const badge = document.getElementById("badge");
let intentSent = false;

/* What the runtime worker fetches first (the same URLs, so the same HTTP cache entries). Fetched
 * on intent, while the pointer moves to the click: the worker then finds them in the HTTP cache,
 * or joins the download in flight. Nothing here runs before intent. */
const PYODIDE = new URL("../vendor/pyodide/", import.meta.url);
const SNAPSHOT_HASH = "__PORCH_SNAPSHOT_HASH__";
const PREFETCH = [
  new URL("worker.js", import.meta.url),
  new URL("porch_runtime.zip?h=__PORCH_RUNTIME_HASH__", import.meta.url),
  ...["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "__PORCH_BOOT_STDLIB__"]
    .map((name) => new URL(name, PYODIDE)),
];

async function prefetch() {
  const urls = PREFETCH.slice();
  if (SNAPSHOT_HASH) {
    const snapshot = new URL("snapshot.bin?h=" + SNAPSHOT_HASH, PYODIDE);
    /* Already in the worker's Cache Storage from an earlier visit: nothing to download. */
    const kept = await caches.open("porch-snapshot")
      .then((cache) => cache.match(snapshot.href)).catch(() => null);
    if (!kept) urls.push(snapshot);
  }
  for (const url of urls) {
    /* The browser's own prefetch: straight into the HTTP cache, no byte through this page's
     * JavaScript (which shares the host page's main thread when both are on one site). */
    const link = document.createElement("link");
    link.rel = "prefetch";
    link.href = url.href;
    document.head.append(link);
  }
}

const send = connectHost(HOST_TO_LAUNCHER, (msg) => {
  if (msg.type === "launcher.focus") {
    button.focus();
    return;
  }
  const state = msg.state || {};
  const open = state.visibility === "maximized";
  document.documentElement.lang = state.locale || "en";
  document.title = t(state.locale, "launcher");
  document.documentElement.dataset.theme = state.theme === "dark" ? "dark" : "light";
  button.setAttribute("aria-expanded", String(open));
  button.classList.toggle("is-open", open);
  const unread = Number.isInteger(state.unread) && state.unread > 0 ? state.unread : 0;
  let label = t(state.locale, open ? "close" : "open");
  if (unread) label += ". " + t(state.locale, "unread", unread);
  button.setAttribute("aria-label", label);
  badge.hidden = unread === 0 || open;
  badge.textContent = unread > 99 ? "99+" : String(unread);
});

function intent() {
  if (intentSent) return;
  intentSent = true;
  send("launcher.intent");
  prefetch();
}
button.addEventListener("pointerenter", intent);
button.addEventListener("focus", intent);
button.addEventListener("click", () => {
  intent();
  send("launcher.toggle");
});
send("launcher.ready");
