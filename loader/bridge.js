/*
 * The widget side of the host <-> widget bridge (docs/bridge.md).
 *
 * A widget page (launcher or panel) learns the host page's origin from its own URL (core.js puts
 * it there) and checks it against what the browser reports of its embedder. Every message it
 * accepts comes from window.parent, with exactly that origin, with {v: 1} and a type listed
 * below; everything else is dropped and logged. Every message it sends names that exact origin.
 */
export const VERSION = 1;

/* Host -> widget, per surface. */
export const HOST_TO_LAUNCHER = ["launcher.state", "launcher.focus"];
export const HOST_TO_PANEL = [
  "host.state", "host.preboot", "host.boot", "host.release", "host.command",
];
/* Widget -> host, per surface. */
export const LAUNCHER_TO_HOST = [
  "launcher.ready", "launcher.intent", "launcher.rest", "launcher.toggle", "launcher.pointer",
];
export const PANEL_TO_HOST = [
  "panel.ready", "panel.minimize", "panel.interaction", "runtime.event", "runtime.result",
];
/* Panel <-> worker (mirrors porch_runtime/bridge.py). */
export const PANEL_TO_RUNTIME = [
  "runtime.start", "ui.send", "ui.retry", "ui.shown", "ui.locale", "ui.typing", "ui.end", "ui.rate",
  "ui.prechat", "ui.offline", "ui.attach", "ui.transcript", "ui.delete", "host.command",
];
export const RUNTIME_TO_PANEL = [
  "render.message", "render.status", "render.locale", "render.page_status", "render.surface",
  "render.form", "render.conversation", "render.receipt", "render.typing", "render.upload_error",
  "render.clear", "render.transcript", "render.deleted", "host.event", "host.result",
  "runtime.log",
];

/* The panel opened as a pop-out window (Tawk_API.popup) rather than framed by the host page. */
export const POPUP = window.parent === window && Boolean(window.opener);

/* The host page's window: the embedding page, or the page that opened the pop-out. */
const hostWindow = POPUP ? window.opener : window.parent;

export function hostOrigin() {
  const claimed = new URL(location.href).searchParams.get("host");
  let origin = null;
  try { origin = claimed && new URL(claimed).origin; } catch (err) { origin = null; }
  /* Where the browser tells us who embeds us, it must agree with the URL. */
  const ancestors = location.ancestorOrigins;
  if (origin && ancestors && ancestors.length && ancestors[0] !== origin) origin = null;
  if (!origin || hostWindow === window || !hostWindow) {
    throw new Error("[porch] widget page opened without a valid embedding host");
  }
  return origin;
}

export function connectHost(accepted, onMessage) {
  const origin = hostOrigin();
  window.addEventListener("message", (event) => {
    if (event.origin !== origin || event.source !== hostWindow) return;
    const msg = event.data;
    if (!msg || typeof msg !== "object" || msg.v !== VERSION || !accepted.includes(msg.type)) {
      console.warn("[porch] dropped a bridge message that failed validation", msg && msg.type);
      return;
    }
    onMessage(msg);
  });
  return function send(type, fields) {
    hostWindow.postMessage(Object.assign({ v: VERSION, type }, fields || {}), origin);
  };
}

/* A widget's accent colour (#rrggbb), with text that stays readable on it. */
export function applyAccent(colour) {
  const root = document.documentElement.style;
  if (typeof colour !== "string" || !/^#[0-9a-f]{6}$/i.test(colour)) {
    root.removeProperty("--accent");
    root.removeProperty("--accent-text");
    return;
  }
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179;
  root.setProperty("--accent", colour);
  root.setProperty("--accent-text", light ? "#0f172a" : "#fff");
}

/* The languages written right to left. A page in one is mirrored: its CSS uses logical properties
 * (inline-start/end), so dir="rtl" on the root is all it takes (docs/i18n.md, "Right to left"). */
const RTL_LOCALES = ["ar", "he"];

/* The document's language and direction, from the widget's locale. */
export function applyLanguage(locale) {
  const root = document.documentElement;
  root.lang = locale;
  root.dir = RTL_LOCALES.includes(locale) ? "rtl" : "ltr";
}
