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
button.addEventListener("pointerenter", intent);
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
button.addEventListener("focus", intent);
button.addEventListener("click", () => {
  intent();
  send("launcher.toggle");
});
send("launcher.ready");
