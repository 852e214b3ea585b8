/*
 * The agent console's language (docs/i18n.md, "The agent console"), built into
 * public/agent/i18n.js with loader/locale.js (the widget's normalization) and the console's one
 * string table, loader/console_strings.json, put in.
 *
 * A plain script in the page's <head>, so <html lang> and dir are right before the first paint.
 * The language is the one chosen in the console (kept in localStorage), else the first of the
 * browser's languages Porch supports, else English. view.js translates the page's marked
 * elements (data-i18n: text; data-i18n-placeholder, data-i18n-aria-label: those attributes) as
 * soon as the body is parsed, long before Python has booted; console.py words everything it draws
 * with the same table, which it asks for with porchI18n.strings().
 */
(function (window, document) {
  "use strict";
  /* __PORCH_LOCALE__ */

  var STRINGS = __PORCH_CONSOLE_STRINGS__;
  var RTL = ["ar", "he"];
  var STORAGE_KEY = "porch.console.language";
  var ATTRIBUTES = ["placeholder", "aria-label"];

  function storedLocale() {
    try {
      return normalizeLocale(window.localStorage.getItem(STORAGE_KEY));
    } catch (error) {
      return null; // storage blocked: the browser's language then
    }
  }

  var locale = storedLocale() || browserLocale();

  /* The string for key in the current language, its {placeholders} filled from values. */
  function t(key, values) {
    var text = STRINGS[locale][key];
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined ? String(values[name]) : whole;
    });
  }

  function applyDirection() {
    var root = document.documentElement;
    root.lang = locale;
    root.dir = RTL.indexOf(locale) >= 0 ? "rtl" : "ltr";
  }

  /* Every marked element of the page in the current language (text only: textContent). */
  function translate() {
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = t(nodes[i].dataset.i18n);
    ATTRIBUTES.forEach(function (attribute) {
      var marked = document.querySelectorAll("[data-i18n-" + attribute + "]");
      for (var j = 0; j < marked.length; j++) {
        marked[j].setAttribute(attribute, t(marked[j].getAttribute("data-i18n-" + attribute)));
      }
    });
  }

  /* Switch to value (any tag normalizeLocale takes) and remember it; false if unsupported. */
  function setLocale(value) {
    var next = normalizeLocale(value);
    if (!next) return false;
    locale = next;
    try {
      window.localStorage.setItem(STORAGE_KEY, locale);
    } catch (error) {
      /* storage blocked: the choice lasts as long as the page */
    }
    applyDirection();
    translate();
    return true;
  }

  applyDirection();

  window.porchI18n = {
    locales: LOCALES.slice(),
    locale: function () { return locale; },
    t: t,
    translate: translate,
    setLocale: setLocale,
    /* For the console's Python: the language and its whole table, as JSON text (one round trip
     * from the worker). */
    strings: function () { return JSON.stringify({ locale: locale, strings: STRINGS[locale] }); },
  };
})(window, document);
