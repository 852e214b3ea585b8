/* A Vue 3 app with the official plugin, as its README shows it (app.use(TawkMessengerVue,
 * {...})), and a component that injects what the plugin provides: every method and every
 * callback registrar (each called with a recorder). window.__messenger holds the injected
 * functions for the tests. */
import { createApp, h, inject } from "vue";
import TawkMessengerVue from "@tawk.to/tawk-messenger-vue-3";

import { CALLBACKS, config, recorder } from "./record.js";

const METHODS = [
  "start", "shutdown", "maximize", "minimize", "toggle", "popup", "showWidget", "hideWidget",
  "toggleVisibility", "endChat", "getWindowType", "getStatus", "isChatMaximized",
  "isChatMinimized", "isChatHidden", "isChatOngoing", "isVisitorEngaged", "onLoaded",
  "onBeforeLoaded", "widgetPosition", "visitor", "setAttributes", "addEvent", "addTags",
  "removeTags", "switchWidget",
];

/* The composable a Vue app writes over the plugin's provide(). */
function useTawkMessenger() {
  return Object.fromEntries(METHODS.concat(CALLBACKS).map((name) => [name, inject(name)]));
}

const Shop = {
  setup() {
    const messenger = useTawkMessenger();
    for (const name of CALLBACKS) messenger[name](recorder(name));
    if (config.visitor) messenger.visitor(config.visitor);
    window.__messenger = messenger;
    return () => h("main", [h("h1", "Vue shop")]);
  },
};

const app = createApp(Shop).use(TawkMessengerVue, {
  propertyId: config.propertyId,
  widgetId: config.widgetId,
  basePath: config.basePath,
  customStyle: config.customStyle,
});
/* What the plugin exposes: everything it provided to the app. */
window.__exposed = Object.keys(app._context.provides);
app.mount("#root");
