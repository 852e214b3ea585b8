/* The launcher surface: one button. core.js owns the state; this page only draws it. */
import { HOST_TO_LAUNCHER, applyAccent, applyLanguage, connectHost } from "./bridge.js";
import { t } from "./strings.js";

const button = document.getElementById("launcher");
const badge = document.getElementById("badge");
let intentSent = false;

const send = connectHost(HOST_TO_LAUNCHER, (msg) => {
  if (msg.type === "launcher.focus") {
    button.focus();
    return;
  }
  const state = msg.state || {};
  const open = state.visibility === "maximized";
  applyLanguage(state.locale || "en");
  document.title = t(state.locale, "launcher");
  document.documentElement.dataset.theme = state.theme === "dark" ? "dark" : "light";
  applyAccent(state.accent);
  button.setAttribute("aria-expanded", String(open));
  button.classList.toggle("is-open", open);
  const unread = Number.isInteger(state.unread) && state.unread > 0 ? state.unread : 0;
  let label = t(state.locale, open ? "close" : "open");
  if (unread) label += ". " + t(state.locale, "unread", unread);
  button.setAttribute("aria-label", label);
  badge.hidden = unread === 0 || open;
  badge.textContent = unread > 99 ? "99+" : String(unread);
});

/* The host creates the panel (hidden) on intent; the panel then warms the runtime's files. */
function intent() {
  if (intentSent) return;
  intentSent = true;
  send("launcher.intent");
}
/* A deliberate intent: a mouse or pen resting here REST_MS, or keyboard focus. The host then boots
 * Python in the hidden panel, so a click only connects (core.js, preboot). A pointer passing over
 * is not one, nor is a touch: there the tap itself is the intent. */
const REST_MS = 100;
let restTimer = 0;
let restSaid = -Infinity;
/* From a move as well as an enter: this frame is not always told that the pointer left (below),
 * and then a pointer coming back only moves here. While it stays, said again at most every
 * second (the host keeps the pre-boot while the pointer is there). */
function rest(event) {
  if (event.pointerType === "touch" || restTimer || event.timeStamp - restSaid < 1000) return;
  restTimer = setTimeout(() => {
    restTimer = 0;
    restSaid = performance.now();
    send("launcher.rest", { via: "pointer" });
  }, REST_MS);
}
button.addEventListener("pointerenter", (event) => {
  intent();
  rest(event);
});
button.addEventListener("pointermove", rest);
button.addEventListener("pointerleave", () => {
  clearTimeout(restTimer);
  restTimer = 0;
  restSaid = -Infinity;
});
/* Across sites the page gets no mouseenter/mouseleave for this frame: core.js fires them for it.
 * This frame is not always told that the pointer left (the page is, and ends the hover), so a
 * pointer moving here says so again, at most every 100 ms. */
let pointerSaid = -Infinity;
function pointer(event, inside) {
  if (event.pointerType === "touch") return;
  if (inside && event.timeStamp - pointerSaid < 100) return;
  pointerSaid = inside ? event.timeStamp : -Infinity;
  send("launcher.pointer", { inside });
}
document.documentElement.addEventListener("pointerenter", (event) => pointer(event, true));
document.documentElement.addEventListener("pointermove", (event) => pointer(event, true));
document.documentElement.addEventListener("pointerleave", (event) => pointer(event, false));
button.addEventListener("focus", () => {
  intent();
  /* Focus that a pointer or a tap gave comes with its click: only the keyboard's is an intent. */
  if (button.matches(":focus-visible")) send("launcher.rest", { via: "focus" });
});
button.addEventListener("click", () => {
  intent();
  send("launcher.toggle");
});
send("launcher.ready");
