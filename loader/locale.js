/*
 * The supported languages and how a language tag becomes one of them (docs/i18n.md,
 * "Normalization"). One copy for both surfaces that choose a language in the browser: the host
 * SDK (core.js) and the agent console (console_i18n.js). tools/build_public.py puts this text in
 * at their "__PORCH_LOCALE__" mark, inside their closures, so it is plain ES5 with no exports.
 */
var LOCALES = ["en", "zh-cn", "zh-tw", "ja", "ko", "de", "fr", "pt", "ru", "ar", "he"];

/* Case, "_" vs "-", scripts and regions: "EN-us" -> en, "zh_Hans" -> zh-cn, "zh-HK" -> zh-tw,
 * "zh-Hans-HK" -> zh-cn, "pt-BR" -> pt, "ar-EG" -> ar, and Hebrew's old code "iw" (Java and
 * older Android still report it) -> he. Returns null for anything outside the supported set
 * (docs/i18n.md). */
function normalizeLocale(value) {
  if (typeof value !== "string") return null;
  var tag = value.trim().toLowerCase().replace(/_/g, "-");
  if (LOCALES.indexOf(tag) >= 0) return tag;
  var parts = tag.split("-");
  if (parts[0] === "iw") parts[0] = "he";
  if (parts[0] === "zh") {
    /* An explicit script decides (zh-Hans-HK is Simplified); otherwise the region does. */
    if (parts.indexOf("hans") > 0) return "zh-cn";
    if (parts.indexOf("hant") > 0) return "zh-tw";
    return /-(tw|hk|mo)(-|$)/.test(tag) ? "zh-tw" : "zh-cn";
  }
  return LOCALES.indexOf(parts[0]) >= 0 ? parts[0] : null;
}

function browserLocale() {
  var wanted = (navigator.languages && navigator.languages.length)
    ? navigator.languages : [navigator.language];
  for (var i = 0; i < wanted.length; i++) {
    var locale = normalizeLocale(wanted[i]);
    if (locale) return locale;
  }
  return "en";
}
