/*
 * Porch host SDK: window.TWTChatWidget (see docs/host-api.md).
 *
 * Plain, dependency-free JavaScript that runs on the customer's page. It draws the launcher,
 * owns the widget's visibility, stores the visitor identity in the host's first-party storage,
 * and talks to the panel iframe over a checked postMessage bridge. It never loads Pyodide: the
 * Python runtime boots in a Web Worker inside the panel, on the visitor's intent.
 */
(function (window, document) {
  "use strict";
  /* One mark, so the launcher's time to visible can be measured from here (docs/performance.md). */
  if (window.performance && performance.mark) performance.mark("porch:core-start");

  var VERSION = "__PORCH_VERSION__";
  var BAKED_SERVER_URL = "__PORCH_SERVER_URL__";
  var BRIDGE_VERSION = 1;
  var PREFIX = "[TWTChatWidget]";
  /* The runtime must report runtime_mounted within this many ms of booting (docs/host-api.md). */
  var DEFAULT_BOOT_TIMEOUT_MS = 60000;
  /* A worker booted on a deliberate intent with no click this long after it is terminated
   * (docs/host-api.md, `prebootTimeout`). */
  var DEFAULT_PREBOOT_TIMEOUT_MS = 30000;
  /* The highest z-index there is: with the frames last in <html>, nothing of the page covers
   * them unless the page asks (zIndex). */
  var DEFAULT_Z_INDEX = 2147483647;
  var VISIBILITIES = ["maximized", "minimized", "hidden"];
  /* Where a launcher may sit: a corner or the middle of a side (tawk.to's names). */
  var TAWK_POSITIONS = ["br", "bl", "cr", "cl", "tr", "tl"];
  var THEMES = ["light", "dark", "system"];
  var LAUNCHER_TITLES = {
    en: "Chat", "zh-cn": "聊天", "zh-tw": "聊天", ja: "チャット", ko: "채팅",
    de: "Chat", fr: "Discussion", pt: "Conversa", ru: "Чат", ar: "الدردشة", he: "צ'אט",
  };
  var PANEL_TITLES = {
    en: "Chat window", "zh-cn": "聊天窗口", "zh-tw": "聊天視窗", ja: "チャットウィンドウ",
    ko: "채팅 창", de: "Chatfenster", fr: "Fenêtre de discussion", pt: "Janela de conversa",
    ru: "Окно чата", ar: "نافذة الدردشة", he: "חלון הצ'אט",
  };
  /* Public events the runtime may raise through the panel, with a payload check each. */
  var RUNTIME_EVENTS = {
    runtime_mounted: isNullish,
    runtime_activated: isNullish,
    visitor_auth_ready: function (p) {
      return isObject(p) && typeof p.hasToken === "boolean" &&
        (p.source === "initial" || p.source === "resolved");
    },
    connection_state_changed: function (p) {
      return isObject(p) && ["disconnected", "connecting", "connected", "reconnecting"]
        .indexOf(p.status) >= 0;
    },
    session_connected: function (p) { return isObject(p) && p.status === "connected"; },
    session_disconnected: function (p) { return isObject(p) && typeof p.status === "string"; },
    auth_closed: function (p) { return isObject(p) && typeof p.reason === "string"; },
    bootstrap_failed: function (p) { return isObject(p) && typeof p.reason === "string"; },
    unread_count_changed: function (p) {
      return isObject(p) && typeof p.count === "number" && p.count >= 0 && p.count % 1 === 0;
    },
    /* Conversation events (docs/host-api.md), which the Tawk_API layer builds on. */
    page_status_changed: function (p) {
      return isObject(p) && ["online", "away", "offline"].indexOf(p.status) >= 0;
    },
    chat_started: function (p) { return isObject(p) && typeof p.conversation_id === "string"; },
    chat_ended: function (p) {
      return isObject(p) && typeof p.conversation_id === "string" &&
        ["visitor", "agent", "system"].indexOf(p.by) >= 0;
    },
    chat_message: function (p) {
      return isObject(p) && ["visitor", "agent", "system"].indexOf(p.author) >= 0 &&
        typeof p.conversation_id === "string" && typeof p.seq === "number" &&
        typeof p.text === "string" && typeof p.name === "string" &&
        (p.event === null || typeof p.event === "string");
    },
    agent_joined: function (p) {
      return isObject(p) && typeof p.id === "string" && typeof p.name === "string" &&
        typeof p.position === "string" && typeof p.image === "string";
    },
    agent_left: function (p) {
      return isObject(p) && typeof p.id === "string" && typeof p.name === "string";
    },
    chat_rated: function (p) {
      return isObject(p) && [-1, 0, 1].indexOf(p.rating) >= 0 && typeof p.comment === "string";
    },
    prechat_submitted: function (p) {
      return isObject(p) && Array.isArray(p.answers) && p.answers.every(function (a) {
        return isObject(a) && typeof a.name === "string" && typeof a.label === "string" &&
          typeof a.value === "string";
      });
    },
    offline_submitted: function (p) {
      return isObject(p) && typeof p.name === "string" && typeof p.email === "string" &&
        typeof p.message === "string" && RUNTIME_EVENTS.prechat_submitted({ answers: p.questions });
    },
    file_uploaded: function (p) {
      return isObject(p) && typeof p.url === "string" && typeof p.name === "string" &&
        typeof p.content_type === "string" && typeof p.size === "number";
    },
    tags_updated: function (p) {
      return isObject(p) && Array.isArray(p.tags) &&
        p.tags.every(function (tag) { return typeof tag === "string"; });
    },
  };
  /* Commands the runtime carries out, each answered by one runtime.result (docs/bridge.md,
   * "Commands"; declared in porch_runtime/bridge.py, checked against it by the unit tests). */
  var RUNTIME_COMMANDS = ["visitor.update", "visitor.event", "tags.change", "chat.end"];
  var CONFIG_FIELDS = {
    appid: "string", asyncInit: "boolean", language: "string", theme: THEMES,
    launcher: ["default", "custom"], zIndex: "number", sbs: "string", sbs_mm: "string",
    ranstr: "string", name: "string", nickname: "string", email: "string", phone: "string",
    referer: "string", source_title: "string",
    /* Porch extensions (docs/host-api.md): */
    loading: ["intent", "eager", "click"], bootTimeout: "number", prebootTimeout: "number",
    consent: ["required"], privacyFilter: "boolean", privacyPatterns: "strings",
  };
  /* Fields that are durations: a positive number of milliseconds. */
  var DURATIONS = ["bootTimeout", "prebootTimeout"];

  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function isNullish(v) { return v === null || v === undefined; }
  function hasOwn(o, key) { return Object.prototype.hasOwnProperty.call(o, key); }
  function logError(text) { if (window.console) window.console.error(PREFIX + " " + text); }

  /* --- where Porch lives -------------------------------------------------------------------- */

  /* core.js, or its Tawk_API build as tawk.to's embed URL loads it: /<propertyId>/<widgetId>. */
  var SCRIPT_PATH = /\/core\.js(\?|$)|\/[0-9a-f]{24}\/[a-z0-9]{1,50}\/?(\?|$)/;

  function findScriptUrl() {
    var script = document.currentScript;
    if (!script || !SCRIPT_PATH.test(script.src)) {
      var scripts = document.getElementsByTagName("script");
      for (var i = scripts.length - 1; i >= 0; i--) {
        if (SCRIPT_PATH.test(scripts[i].src)) { script = scripts[i]; break; }
      }
    }
    return new URL(script ? script.src : "/install/core.js", window.location.href);
  }
  var scriptUrl = findScriptUrl();
  var widgetBase = new URL("../widget/", scriptUrl);
  var widgetOrigin = widgetBase.origin;
  var serverUrl = BAKED_SERVER_URL || scriptUrl.origin;
  var scriptVersion = scriptUrl.searchParams.get("version") || "";

  /* --- locale ------------------------------------------------------------------------------- */

  /* LOCALES, normalizeLocale(value) and browserLocale(): loader/locale.js, put in here by the
   * build (tools/build_public.py), as it is into the agent console's script. */
  /* __PORCH_LOCALE__ */

  /* --- events ------------------------------------------------------------------------------- */

  var listeners = {};
  /* Façades (the Tawk_API layer) see every event, whatever the page did with on()/off(). */
  var observers = [];

  function addListener(event, handler, once) {
    if (typeof event !== "string" || typeof handler !== "function") {
      logError("on/once(event, handler) needs an event name and a function");
      return;
    }
    (listeners[event] = listeners[event] || []).push({ fn: handler, once: once });
  }

  function emit(event, payload) {
    observers.slice().forEach(function (observe) { observe(event, payload); });
    var list = (listeners[event] || []).slice();
    listeners[event] = (listeners[event] || []).filter(function (l) { return !l.once; });
    for (var i = 0; i < list.length; i++) {
      try {
        if (payload === undefined) list[i].fn.call(api); else list[i].fn.call(api, payload);
      } catch (err) {
        logError("a '" + event + "' handler threw: " + (err && err.stack || err));
      }
    }
  }

  /* --- configuration ------------------------------------------------------------------------ */

  function readConfig(raw) {
    var config = {};
    if (!isObject(raw)) {
      if (raw !== undefined) logError("window.__twt must be an object; ignored");
      raw = {};
    }
    Object.keys(CONFIG_FIELDS).forEach(function (key) {
      if (raw[key] === undefined || raw[key] === null) return;
      var rule = CONFIG_FIELDS[key];
      var ok = Array.isArray(rule) ? rule.indexOf(raw[key]) >= 0
        : rule === "strings" ? Array.isArray(raw[key]) &&
          raw[key].every(function (s) { return typeof s === "string"; })
        : typeof raw[key] === rule && (rule !== "number" || isFinite(raw[key])) &&
          (DURATIONS.indexOf(key) < 0 || raw[key] > 0);
      if (ok) config[key] = raw[key];
      else {
        logError("window.__twt." + key + " must be " +
          (Array.isArray(rule) ? "one of " + rule.join(", ")
            : DURATIONS.indexOf(key) >= 0 ? "a positive number of milliseconds"
            : rule === "strings" ? "an array of strings" : "a " + rule) +
          ", got " + JSON.stringify(raw[key]) + "; ignored");
      }
    });
    if (config.language !== undefined) {
      var locale = normalizeLocale(config.language);
      if (!locale) {
        logError("window.__twt.language " + JSON.stringify(config.language) +
          " is not supported (" + LOCALES.join(", ") + "); using the browser language");
      }
      config.language = locale || undefined;
    }
    return config;
  }

  function profileFrom(config) {
    return {
      name: config.name || null, nickname: config.nickname || null,
      email: config.email || null, phone: config.phone || null,
      referer: config.referer || window.location.href,
      source_title: config.source_title || document.title || null,
    };
  }

  function loginFrom(source) {
    if (!source.sbs && !source.sbs_mm && !source.ranstr) return null;
    return {
      sbs: source.sbs, sbs_mm: source.sbs_mm, ranstr: source.ranstr,
      name: source.name || null, nickname: source.nickname || null,
      email: source.email || null, phone: source.phone || null,
    };
  }

  function validLogin(login) {
    var missing = ["sbs", "sbs_mm", "ranstr"].filter(function (k) {
      return typeof login[k] !== "string" || !login[k];
    });
    if (missing.length) {
      logError("login rejected: " + missing.join(", ") + " missing (sbs, sbs_mm and ranstr are required)");
      return false;
    }
    var wrong = ["name", "nickname", "email", "phone"].filter(function (k) {
      return !isNullish(login[k]) && typeof login[k] !== "string";
    });
    if (wrong.length) {
      logError("login rejected: " + wrong.join(", ") + " must be a string when given");
      return false;
    }
    return true;
  }

  /* The site's own id of the logged-in user, whichever API logged them in. */
  function loginUser(login) { return login.tawk ? login.tawk.user_id : login.sbs; }

  /* --- identity in the host's first-party storage ------------------------------------------- */

  function storageKey(appid) { return "twt:" + appid + ":visitor"; }

  /* The stored identity, or null. With a business login, only the identity stored for that very
   * user (its sbs is kept beside it): a page reloaded with a login already used (a ranstr is good
   * for one login) continues as that visitor, and nothing of another user reaches this one. */
  function loadIdentity(appid, login) {
    try {
      var stored = JSON.parse(window.localStorage.getItem(storageKey(appid)) || "null");
      if (isObject(stored) && typeof stored.bs === "string" && typeof stored.bs_mm === "string" &&
          (!login || stored.sbs === loginUser(login))) {
        return { bs: stored.bs, bs_mm: stored.bs_mm };
      }
    } catch (err) { /* storage blocked or corrupt: behave as a first visit */ }
    return null;
  }

  function saveIdentity(appid, identity, login) {
    try {
      var stored = identity &&
        (login ? { bs: identity.bs, bs_mm: identity.bs_mm, sbs: loginUser(login) } : identity);
      if (stored) window.localStorage.setItem(storageKey(appid), JSON.stringify(stored));
      else window.localStorage.removeItem(storageKey(appid));
    } catch (err) { /* storage blocked: the identity lives for this page only */ }
  }

  /* --- the widget instance ------------------------------------------------------------------ */

  var widget = null;       /* the live instance, or null before init() / after destroy() */
  var pendingCalls = [];   /* call()s made before init() completed, applied in call order */
  var draining = false;    /* applying pendingCalls: later calls queue behind them */

  function Widget(config) {
    this.config = config;
    this.appid = config.appid;
    this.ready = false;
    this.failed = false;
    /* Tawk_API.autoStart = false: hidden, and no runtime, until the page calls start(). */
    this.started = config.autoStart !== false;
    this.visibility = this.started ? "minimized" : "hidden";
    this.unread = 0;
    this.theme = config.theme || "light";
    this.locale = config.language || browserLocale();
    var login = loginFrom(config);
    /* An incomplete business login at startup is reported and ignored: the visitor stays anonymous. */
    this.login = login && validLogin(login) ? login : null;
    /* A façade's widget may learn its appid from the bootstrap (a tawk property): its stored
     * identity is keyed by what the page named. */
    this.storageId = config.appid || "property:" + config.property_id;
    this.identity = loadIdentity(this.storageId, this.login);
    /* consent: "required": nothing is written to any storage until the visitor first interacts
     * with the widget or the page calls consent (docs/host-api.md, "Consent"). */
    this.consentPending = config.consent === "required";
    this.ticket = null;
    this.resume = false;
    this.booted = false;
    this.panelReady = false;
    this.panelQueue = [];
    this.launcher = null;
    this.launcherReady = false; /* its page said launcher.ready: it gets the state from then on */
    this.panel = null;
    this.bootTimer = null;
    this.prebootTimer = null; /* set while a pre-booted worker waits for a click */
    this.cleanups = [];
    this.results = {};       /* runtime command id -> its done(error, message) */
    this.pageStatus = null;  /* online, away or offline, from the bootstrap, then the runtime */
    this.settings = null;    /* a façade's widget settings, from the bootstrap */
    this.wantsRuntime = false; /* a runtime command is waiting: boot in idle time */
  }

  Widget.prototype.listen = function (target, type, handler) {
    target.addEventListener(type, handler);
    this.cleanups.push(function () { target.removeEventListener(type, handler); });
  };

  Widget.prototype.start = function () {
    var self = this;
    this.listen(window, "message", function (event) { self.receive(event); });
    var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    if (media) this.listen(media, "change", function () { self.applyTheme(); });
    this.media = media;
    this.watchSurfaces();
    this.watchNavigation();
    /* A phone turned, a window narrowed: the launcher's spot and the panel's size follow. */
    var phone = window.matchMedia && window.matchMedia(PHONE);
    if (phone) {
      this.listen(phone, "change", function () {
        if (self.launcher) self.place(self.launcher, 0);
        self.layoutPanel();
        self.syncChrome();
      });
    }
    /* The on-screen keyboard shrinks the visual viewport (and, on iOS, moves it): an open panel
     * on a phone follows it, so the composer stays above the keyboard. */
    var view = window.visualViewport;
    var follow = function () { if (self.visibility === "maximized") self.layoutPanel(); };
    if (view) {
      this.listen(view, "resize", follow);
      this.listen(view, "scroll", follow);
    }
    if (this.config.embedIn) this.visibility = "maximized";
    else if (this.config.launcher !== "custom") this.createLauncher();
  };

  Widget.prototype.frame = function (surface, src, title) {
    var iframe = document.createElement("iframe");
    iframe.setAttribute("data-twt-widget-surface", surface);
    iframe.setAttribute("title", title);
    iframe.src = src;
    var style = iframe.style;
    style.position = "fixed";
    style.border = "0";
    style.background = "transparent";
    style.colorScheme = "normal";
    style.setProperty("z-index",
      String(this.config.zIndex !== undefined ? this.config.zIndex : DEFAULT_Z_INDEX),
      this.config.zIndexImportant ? "important" : "");
    var self = this;
    iframe.addEventListener("load", function () {
      if (self === widget) emit("iframe_loaded", { surface: surface });
    });
    return iframe;
  };

  Widget.prototype.frameUrl = function (page) {
    var url = new URL(page, widgetBase);
    url.searchParams.set("host", window.location.origin);
    /* The server frames the page only for the app's domains (frame-ancestors), by either name. */
    if (this.appid) url.searchParams.set("appid", this.appid);
    else url.searchParams.set("property", this.config.property_id);
    return url.href;
  };

  /* Where the launcher sits: a corner or a side's middle ('br', 'bl', 'tr', 'tl', 'cr', 'cl'),
   * offset from the edges; the panel opens beside it, towards the page's middle. */
  var PHONE = "(max-width: 640px)";
  function isPhone() { return Boolean(window.matchMedia && window.matchMedia(PHONE).matches); }
  Widget.prototype.place = function (iframe, gap) {
    var placement = this.config.placement || {};
    var spot = (isPhone() ? placement.mobile : placement.desktop) || {};
    var position = spot.position || "br";
    var middle = position.charAt(0) === "c";
    var style = iframe.style;
    style.left = style.right = style.top = style.bottom = style.transform = "";
    style[position.charAt(1) === "l" ? "left" : "right"] =
      (spot.xOffset || 0) + 16 + (middle ? gap : 0) + "px";
    if (middle) {
      style.top = "50%";
      style.transform = "translateY(-50%)";
    } else {
      style[position.charAt(0) === "t" ? "top" : "bottom"] = (spot.yOffset || 0) + 16 + gap + "px";
    }
  };

  /* The floating surfaces are children of <html>, beside <body>, not in it: a page that swaps
   * its <body> (Turbo, Turbolinks) keeps them, and their documents, running; a `transform` on
   * <body> cannot turn their `position: fixed` into a position in the body. */
  function attach(iframe) { document.documentElement.appendChild(iframe); }

  /* A page that removes them anyway gets them back (restoreSurfaces). Loading a frame again
   * restarts its document: the launcher is sent the state again when it says launcher.ready,
   * and a panel that ran the runtime boots a new one, which the server welcomes with the same
   * conversation. */
  Widget.prototype.watchSurfaces = function () {
    var self = this;
    var observer = new MutationObserver(function () { if (self === widget) self.restoreSurfaces(); });
    observer.observe(document.documentElement, { childList: true });
    this.cleanups.push(function () { observer.disconnect(); });
  };

  Widget.prototype.restoreSurfaces = function () {
    if (this.launcher && !this.launcher.isConnected) {
      this.launcherReady = false;
      attach(this.launcher);
    }
    var panel = this.panel;
    if (panel && !panel.isConnected && !this.config.embedIn) {
      var booted = this.booted;
      this.stopRuntime("NOT_CONNECTED", "the page removed the chat");
      this.panel = panel;
      attach(panel);
      if (booted) this.boot();
    }
  };

  /* Single-page navigation (history.pushState / replaceState, back and forward): the widget and
   * its conversation stay, and a running runtime tells the agents the new page (visitor.update
   * of referer and title, as a page's own call would). Without a runtime, the next boot's
   * profile carries it. No polling: the Navigation API's event, or history's methods wrapped
   * where a browser lacks it. */
  Widget.prototype.watchNavigation = function () {
    var self = this;
    var page = window.location.href;
    function navigated() {
      /* In a task of its own: routers set the new title right after pushState. */
      setTimeout(function () {
        if (self !== widget || window.location.href === page) return;
        page = window.location.href;
        self.config.referer = page;
        self.config.source_title = document.title;
        if (!self.booted) return;
        var profile = profileFrom(self.config);
        self.runtimeCommand("visitor.update", { attributes: {}, profile: {
          referer: profile.referer, source_title: profile.source_title } });
      }, 0);
    }
    if (window.navigation) this.listen(window.navigation, "currententrychange", navigated);
    else {
      this.listen(window, "popstate", navigated);
      ["pushState", "replaceState"].forEach(function (name) {
        var original = history[name];
        history[name] = function () {
          var result = original.apply(this, arguments);
          navigated();
          return result;
        };
        self.cleanups.push(function () { history[name] = original; });
      });
    }
  };

  Widget.prototype.createLauncher = function () {
    var iframe = this.frame("launcher", this.frameUrl("launcher.html"), LAUNCHER_TITLES[this.locale]);
    this.place(iframe, 0);
    if (this.visibility === "hidden") iframe.style.display = "none";
    iframe.style.width = "72px";
    iframe.style.height = "72px";
    this.launcher = iframe;
    var self = this;
    iframe.addEventListener("mouseenter", function () { self.hovered = true; });
    iframe.addEventListener("mouseleave", function () { self.hovered = false; });
    attach(iframe);
  };

  /* Pages bind mouseenter/mouseleave on the launcher's frame (the spec's hover example). Across
   * sites Chromium keeps the frame's pointer events in the frame's process and the page gets
   * none, so the launcher reports its pointer and the events are fired here, where the browser
   * did not fire them itself (same-site, its own come first: `hovered` is already set). */
  Widget.prototype.relayHover = function (inside) {
    var launcher = this.launcher;
    if (!launcher || Boolean(this.hovered) === inside) return;
    this.hovered = inside;
    var self = this;
    /* The frame does not always learn that the pointer left it; the page does: its next
     * mouseover anywhere else ends the hover. Listened to only while hovering. */
    if (inside) {
      this.hoverEnd = function (event) { if (event.target !== launcher) self.relayHover(false); };
      document.addEventListener("mouseover", this.hoverEnd, true);
    } else {
      document.removeEventListener("mouseover", this.hoverEnd, true);
    }
    var types = inside ? ["mouseover", "mouseenter"] : ["mouseout", "mouseleave"];
    for (var i = 0; i < types.length; i++) {
      var bubbles = types[i] === "mouseover" || types[i] === "mouseout";
      launcher.dispatchEvent(new MouseEvent(types[i], { bubbles: bubbles }));
    }
  };

  Widget.prototype.createPanel = function () {
    if (this.panel) return;
    var iframe = this.frame("panel", this.frameUrl("panel.html"), PANEL_TITLES[this.locale]);
    var style = iframe.style;
    iframe.setAttribute("allow", "clipboard-write");
    this.panel = iframe;
    this.panelReady = false;
    var host = this.config.embedIn && document.getElementById(this.config.embedIn);
    if (host) {
      /* Embedded in the page's own element: always open, sized by that element. */
      style.position = "static";
      style.width = "100%";
      style.height = "100%";
      style.minHeight = "400px";
      host.appendChild(iframe);
      return;
    }
    this.layoutPanel();
    style.display = this.visibility === "maximized" ? "block" : "none";
    attach(iframe);
  };

  /* The panel opens beside the launcher; on a phone it covers the visual viewport, which is what
   * the on-screen keyboard leaves visible (100dvh where the browser has no visualViewport). Only
   * the panel's own frame is styled: nothing is ever set on the page's <html> or <body>. */
  Widget.prototype.layoutPanel = function () {
    var panel = this.panel;
    if (!panel || this.config.embedIn) return;
    var style = panel.style;
    var view = window.visualViewport;
    var phone = isPhone();
    if (phone) {
      style.right = style.bottom = style.transform = "";
      style.left = (view ? view.offsetLeft : 0) + "px";
      style.top = (view ? view.offsetTop : 0) + "px";
    } else {
      this.place(panel, 80);
    }
    style.width = phone ? (view ? view.width + "px" : "100vw") : "min(400px, calc(100vw - 32px))";
    style.height = phone ? (view ? view.height + "px" : "100dvh")
      : "min(640px, calc(100dvh - 120px))";
    style.borderRadius = phone ? "0" : "16px";
    style.boxShadow = phone ? "none" : "0 12px 48px rgba(0,0,0,.18)";
  };

  Widget.prototype.bootstrap = function () {
    var self = this;
    if (this.bootstrapping) return this.bootstrapping;
    this.bootstrapping = fetch(serverUrl + "/api/v1/bootstrap", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(this.appid ? { appid: this.appid, identity: this.identity } : {
        property_id: this.config.property_id, widget_id: this.config.widget_id,
        identity: this.identity,
      }),
    }).then(function (response) {
      return response.json().then(function (body) {
        if (self !== widget) return;
        if (response.ok && typeof body.ticket === "string") {
          self.ticket = body.ticket;
          self.resume = body.resume === true;
          if (!self.appid && typeof body.appid === "string") self.appid = body.appid;
          if (["online", "away", "offline"].indexOf(body.page_status) >= 0) {
            self.pageStatus = body.page_status;
          }
          self.settings = isObject(body.widget) ? body.widget : null;
          self.applySettings();
          observers.slice().forEach(function (observe) { observe("porch:bootstrapped", body); });
          self.afterBootstrap();
        } else {
          var reason = body && body.error === "domain_not_whitelisted"
            ? "domain_not_whitelisted" : "invalid_bootstrap";
          logError("bootstrap refused: " + (body && body.message || response.status));
          self.fail(reason, "http");
        }
      });
    }).catch(function (err) {
      /* The server is unreachable: keep the launcher; a click retries. */
      self.bootstrapping = null;
      logError("bootstrap request failed: " + err);
    });
    return this.bootstrapping;
  };

  Widget.prototype.afterBootstrap = function () {
    var self = this;
    if (this.booted || this.visibility === "maximized" || this.config.loading === "eager") {
      this.boot();
    } else if (this.resume || this.wantsRuntime) {
      /* A returning visitor with a conversation, or a page that gave the runtime a command: boot
       * when the page is idle, so agent replies, unread counts and results arrive without
       * slowing the page. */
      this.bootWhenIdle();
    }
  };

  Widget.prototype.bootWhenIdle = function () {
    var self = this;
    if (this.idleBootAsked || this.booted) return;
    this.idleBootAsked = true;
    (window.requestIdleCallback || function (f) { return setTimeout(f, 1); })(function () {
      if (self === widget) self.boot();
    }, { timeout: 5000 });
  };

  /* --- runtime commands: requests with ids, one result each ---------------------------------- */

  var lastCommandId = 0;

  Widget.prototype.runtimeCommand = function (name, args, done) {
    var id = "h" + (++lastCommandId);
    this.results[id] = done;
    this.sendPanel({ type: "host.command", id: id, name: name, args: isObject(args) ? args : {} });
    this.wantsRuntime = true;
    if (this.ticket) this.bootWhenIdle();
  };

  Widget.prototype.result = function (msg) {
    var done = this.results[msg.id];
    if (!hasOwn(this.results, msg.id)) {
      logError("dropped a result for no command " + JSON.stringify(msg.id));
      return;
    }
    delete this.results[msg.id];
    finish(done, typeof msg.error === "string" ? msg.error : null,
      typeof msg.message === "string" ? msg.message : "");
  };

  /* The runtime that would answer is gone (destroy, or a login replaced it): every command still
   * waiting gets `code`, so no callback waits forever. */
  Widget.prototype.failResults = function (code, message) {
    var results = this.results;
    this.results = {};
    Object.keys(results).forEach(function (id) { finish(results[id], code, message); });
  };

  /* Start the Python runtime (idempotent). Needs the panel and a ticket; either may come later. */
  Widget.prototype.boot = function () {
    var self = this;
    if (!this.started) return;
    this.booted = true;
    clearTimeout(this.prebootTimer);
    this.createPanel();
    if (!this.ticket) { this.bootstrap(); return; }
    if (this.bootSent) return;
    this.bootSent = true;
    this.sendPanel({ type: "host.boot", config: this.runtimeConfig() });
    var timeout = this.config.bootTimeout || DEFAULT_BOOT_TIMEOUT_MS;
    this.bootTimer = setTimeout(function () {
      if (self === widget) self.fail("timeout", "runtime");
    }, timeout);
  };

  /* A deliberate intent (the pointer resting on the launcher, or keyboard focus on it): the
   * hidden panel's worker boots Python and imports the runtime without connecting, so that a
   * click only connects. With no click within `prebootTimeout`, the worker is terminated and its
   * memory released; the next intent boots it again. A touch has no such intent: the tap is the
   * click. `loading: "click"` boots only on the click (docs/host-api.md). */
  Widget.prototype.preboot = function () {
    var self = this;
    if (!this.started || this.booted || this.config.loading === "click") return;
    this.createPanel();
    if (!this.prebootTimer) this.sendPanel({ type: "host.preboot" });
    clearTimeout(this.prebootTimer);
    this.prebootTimer = setTimeout(function () {
      self.prebootTimer = null;
      if (self === widget && !self.booted) self.sendPanel({ type: "host.release" });
    }, this.config.prebootTimeout || DEFAULT_PREBOOT_TIMEOUT_MS);
  };

  Widget.prototype.runtimeConfig = function () {
    return {
      server_url: serverUrl, ticket: this.ticket, identity: this.identity,
      login: this.login && !this.login.tawk ? this.login : null,
      tawk_login: this.login && this.login.tawk ? this.login.tawk : null,
      profile_hash: this.config.profile_hash || null,
      profile: profileFrom(this.config), locale: this.locale, visibility: this.visibility,
      privacy_filter: this.config.privacyFilter !== false,
      privacy_patterns: this.config.privacyPatterns || [],
    };
  };

  Widget.prototype.resolvedTheme = function () {
    if (this.theme !== "system") return this.theme;
    return this.media && this.media.matches ? "dark" : "light";
  };

  Widget.prototype.chrome = function () {
    var settings = this.settings || {};
    /* modal: the panel covers a phone's screen, so it keeps the keyboard focus inside. */
    return { visibility: this.visibility, unread: this.unread, locale: this.locale,
             modal: isPhone() && !this.config.embedIn,
             theme: this.resolvedTheme(), accent: settings.colour || null,
             greeting: settings.greeting || null, storage: !this.consentPending };
  };

  /* A widget's own settings (a tawk.to widget's, from the bootstrap): its language unless the page
   * chose one, its position unless the page placed it, its colour and greeting. */
  Widget.prototype.applySettings = function () {
    var settings = this.settings;
    if (!settings) return;
    var locale = normalizeLocale(settings.language);
    if (locale && !this.config.language && locale !== this.locale) this.setLocale(locale);
    var placement = this.config.placement = this.config.placement || {};
    if (TAWK_POSITIONS.indexOf(settings.position) >= 0) {
      ["desktop", "mobile"].forEach(function (device) {
        var spot = placement[device] = placement[device] || {};
        if (!spot.position) spot.position = settings.position;
      });
      if (this.launcher) this.place(this.launcher, 0);
      this.layoutPanel();
    }
    this.syncChrome();
  };

  /* --- bridge ------------------------------------------------------------------------------- */

  Widget.prototype.post = function (target, message, isWindow) {
    message.v = BRIDGE_VERSION;
    var win = isWindow ? target : target && target.contentWindow;
    if (win) win.postMessage(message, widgetOrigin);
  };

  Widget.prototype.sendPanel = function (message) {
    if (this.panelReady) this.post(this.panel, message);
    else this.panelQueue.push(message);
  };

  Widget.prototype.syncChrome = function () {
    var chrome = this.chrome();
    /* Before launcher.ready the launcher frame still holds its blank document (posting to it would
     * build a script context there for nothing); launcher.ready is answered with the state. */
    if (this.launcherReady) this.post(this.launcher, { type: "launcher.state", state: chrome });
    this.sendPanel({ type: "host.state", state: chrome });
  };

  /* Origin first, then source, then schema; anything else is dropped and logged. The panel's
   * window is looked at only for what is not the launcher's: until the panel frame has navigated,
   * reading its contentWindow makes the browser build a script context for its initial blank
   * document, on the host's main thread (measured: 3-20 ms on the click that opens the chat). */
  Widget.prototype.receive = function (event) {
    if (event.origin !== widgetOrigin) return;
    var fromLauncher = Boolean(this.launcher) && event.source === this.launcher.contentWindow;
    var fromPopup = !fromLauncher && Boolean(this.popup) && event.source === this.popup;
    var fromPanel = !fromLauncher && !fromPopup && Boolean(this.panel) &&
      event.source === this.panel.contentWindow;
    if (!fromLauncher && !fromPanel && !fromPopup) return;
    var msg = event.data;
    if (!isObject(msg) || msg.v !== BRIDGE_VERSION || typeof msg.type !== "string") {
      logError("dropped a malformed bridge message");
      return;
    }
    var handler = fromLauncher ? LAUNCHER_MESSAGES[msg.type]
      : fromPopup ? POPUP_MESSAGES[msg.type] : PANEL_MESSAGES[msg.type];
    if (!handler) {
      logError("dropped an unexpected bridge message " + JSON.stringify(msg.type));
      return;
    }
    handler(this, msg);
  };

  var LAUNCHER_MESSAGES = {
    "launcher.ready": function (w) {
      w.launcherReady = true;
      w.post(w.launcher, { type: "launcher.state", state: w.chrome() });
    },
    "launcher.intent": function (w) { w.createPanel(); },
    /* A pointer that left before the launcher said so (across sites it may never) is no rest. */
    "launcher.rest": function (w, msg) { if (msg.via === "focus" || w.hovered) w.preboot(); },
    "launcher.pointer": function (w, msg) { w.relayHover(msg.inside === true); },
    "launcher.toggle": function (w) {
      w.grantConsent();
      w.setVisibility(w.visibility === "maximized" ? "minimized" : "maximized");
    },
  };

  var PANEL_MESSAGES = {
    "panel.ready": function (w) {
      w.panelReady = true;
      w.post(w.panel, { type: "host.state", state: w.chrome() });
      var queue = w.panelQueue;
      w.panelQueue = [];
      queue.forEach(function (m) { w.post(w.panel, m); });
      emit("bridge_ready");
    },
    "panel.minimize": function (w) {
      w.setVisibility("minimized");
      /* The visitor closed the panel from inside it: give focus back to where it came from. */
      if (w.launcherReady) w.post(w.launcher, { type: "launcher.focus" });
      else if (w.focusBefore && w.focusBefore.isConnected) w.focusBefore.focus();
    },
    "panel.interaction": function (w) { w.grantConsent(); },
    "runtime.result": function (w, msg) { w.result(msg); },
    "runtime.event": function (w, msg) {
      var check = RUNTIME_EVENTS[msg.name];
      if (!check || !check(msg.payload)) {
        logError("dropped an invalid runtime event " + JSON.stringify(msg.name));
        return;
      }
      w.runtimeEvent(msg.name, msg.payload === null ? undefined : msg.payload);
    },
  };

  /* The pop-out window (Tawk_API.popup) is a panel of its own, with its own runtime: it gets the
   * state and the boot config; its events are not the page's (tawk.to's callbacks are "not
   * supported in pop out chat window"), and closing it changes nothing on the page. */
  var POPUP_MESSAGES = {
    "panel.ready": function (w) {
      w.post(w.popup, { type: "host.state", state: w.chrome() }, true);
      var send = function () {
        if (w.popup && !w.popup.closed) {
          w.post(w.popup, { type: "host.boot", config: w.runtimeConfig() }, true);
        }
      };
      if (w.ticket) send(); else w.bootstrap().then(send);
    },
    "panel.minimize": function (w) { if (w.popup) w.popup.close(); },
    "panel.interaction": PANEL_MESSAGES["panel.interaction"],
    "runtime.event": function (w, msg) {
      if (msg.name === "visitor_auth_ready" && isObject(msg.payload) && !w.identity &&
          RUNTIME_EVENTS.visitor_auth_ready(msg.payload)) {
        w.runtimeEvent(msg.name, msg.payload); /* the page learns the identity it was given */
      }
    },
  };

  Widget.prototype.runtimeEvent = function (name, payload) {
    if (name === "runtime_mounted") clearTimeout(this.bootTimer);
    if (name === "visitor_auth_ready" && typeof payload.bs === "string" && typeof payload.bs_mm === "string") {
      this.identity = { bs: payload.bs, bs_mm: payload.bs_mm };
      if (!this.consentPending) saveIdentity(this.storageId, this.identity, this.login);
    }
    if (name === "page_status_changed") this.pageStatus = payload.status;
    if (name === "unread_count_changed") {
      this.unread = payload.count;
      this.syncChrome();
    }
    if (name === "auth_closed") {
      /* Hide first, then tell the page: its handlers already see visibility 'hidden'. */
      if (payload.clearToken) { this.identity = null; saveIdentity(this.storageId, null); }
      this.setVisibility("hidden");
      emit(name, payload);
      return;
    }
    if (name === "bootstrap_failed") {
      this.fail(payload.reason, payload.source || "runtime");
      return;
    }
    emit(name, payload);
  };

  /* --- visibility, theme, language ---------------------------------------------------------- */

  Widget.prototype.setVisibility = function (visibility) {
    if (visibility === this.visibility) return;
    this.visibility = visibility;
    if (visibility === "maximized") {
      /* With launcher: "custom", the page's own button opened the panel; remember it. */
      this.focusBefore = document.activeElement;
      /* On a phone the visitor cannot scroll the page behind the panel; what moves it while the
       * panel is open (the keyboard, a focused field) is undone when it closes. */
      this.scrollBefore = isPhone() ? [window.scrollX, window.scrollY] : null;
      this.boot();
      this.layoutPanel();
    } else if (this.scrollBefore) {
      window.scrollTo(this.scrollBefore[0], this.scrollBefore[1]);
      this.scrollBefore = null;
    }
    if (this.panel) this.panel.style.display = visibility === "maximized" ? "block" : "none";
    if (this.launcher) this.launcher.style.display = visibility === "hidden" ? "none" : "block";
    this.syncChrome();
    emit("visibility_changed", { visibility: visibility });
  };

  Widget.prototype.applyTheme = function () { this.syncChrome(); };

  /* The visitor interacted with the widget, or the page called consent: from now on Porch may
   * store (the identity it holds so far first; the panel learns it with the state). */
  Widget.prototype.grantConsent = function () {
    if (!this.consentPending) return;
    this.consentPending = false;
    if (this.identity) saveIdentity(this.storageId, this.identity, this.login);
    this.syncChrome();
  };

  Widget.prototype.setLocale = function (locale) {
    this.locale = locale;
    if (this.launcher) this.launcher.setAttribute("title", LAUNCHER_TITLES[locale]);
    if (this.panel) this.panel.setAttribute("title", PANEL_TITLES[locale]);
    this.syncChrome();
  };

  /* Another user (or none) on this browser: forget the previous visitor everywhere (identity,
   * unread count, runtime) before loading anything. A tawk.to login reconnects at once, as
   * tawk.to's does: its callback waits for the server's verdict. */
  Widget.prototype.switchUser = function (login, why) {
    this.login = login;
    this.identity = null;
    saveIdentity(this.storageId, null);
    if (this.unread !== 0) {
      this.unread = 0;
      this.syncChrome();
      emit("unread_count_changed", { count: 0 });
    }
    var wasBooted = this.booted;
    this.stopRuntime("SESSION_EXPIRED", why);
    if (wasBooted) this.boot();
    else if (login && login.tawk) {
      this.wantsRuntime = true;
      if (this.ticket) this.bootWhenIdle();
    }
  };

  /* Remove the panel and its runtime (the socket closes with the worker); every command still
   * waiting is answered with `code`. */
  Widget.prototype.stopRuntime = function (code, message) {
    this.failResults(code, message);
    this.idleBootAsked = this.wantsRuntime = false;
    if (this.panel && this.panel.parentNode) this.panel.parentNode.removeChild(this.panel);
    this.panel = null;
    this.panelReady = false;
    this.panelQueue = [];
    this.bootSent = false;
    this.booted = false;
    clearTimeout(this.bootTimer);
    clearTimeout(this.prebootTimer);
    this.prebootTimer = null;
  };

  /* Remove every surface and host-side listener. */
  Widget.prototype.teardown = function () {
    clearTimeout(this.bootTimer);
    clearTimeout(this.prebootTimer);
    if (this.popup && !this.popup.closed) this.popup.close();
    this.failResults("DESTROYED", "the widget was removed");
    this.cleanups.forEach(function (undo) { undo(); });
    this.cleanups = [];
    [this.launcher, this.panel].forEach(function (f) { if (f && f.parentNode) f.parentNode.removeChild(f); });
    this.launcher = this.panel = null;
    this.launcherReady = this.panelReady = false;
  };

  /* A required bootstrap step failed: hide, remove every surface, then tell the page. */
  Widget.prototype.fail = function (reason, source) {
    if (this.failed) return;
    this.failed = true;
    this.teardown();
    var wasVisible = this.visibility !== "hidden";
    this.visibility = "hidden";
    if (wasVisible) emit("visibility_changed", { visibility: "hidden" });
    emit("bootstrap_failed", { reason: reason, source: source, mode: "embedded" });
  };

  /* --- methods ------------------------------------------------------------------------------ */

  var METHODS = {
    maximize: function (w) { w.setVisibility("maximized"); },
    minimize: function (w) { w.setVisibility("minimized"); },
    hide: function (w) { w.setVisibility("hidden"); },
    consent: function (w) { w.grantConsent(); },
    show: function (w) { if (w.visibility === "hidden") w.setVisibility("minimized"); },
    toggle: function (w) {
      w.setVisibility(w.visibility === "maximized" ? "minimized" : "maximized");
    },
    destroy: function (w) {
      w.teardown();
      widget = null;
      var dropped = pendingCalls;
      pendingCalls = [];
      dropped.forEach(function (c) { finish(c[2], "DESTROYED", "the widget was removed"); });
      emit("destroyed");
    },
    login: function (w, payload) {
      /* A tawk.to login, shaped by the Tawk_API layer (the server verifies its hash). */
      if (isObject(payload) && isObject(payload.tawk)) {
        w.switchUser({ tawk: payload.tawk }, "a login replaced the visitor");
        return;
      }
      if (!isObject(payload)) {
        logError("call('login', payload) needs an object with sbs, sbs_mm and ranstr");
        return;
      }
      if (!validLogin(payload)) return;
      ["name", "nickname", "email", "phone"].forEach(function (k) {
        if (typeof payload[k] === "string") w.config[k] = payload[k];
      });
      w.switchUser(loginFrom(payload), "a login replaced the visitor");
    },
    /* Tawk_API.logout (a Porch addition for TWTChatWidget too): the next visitor on this
     * browser is a new, anonymous one and sees nothing of the last. */
    logout: function (w) {
      ["name", "nickname", "email", "phone"].forEach(function (k) { delete w.config[k]; });
      w.switchUser(null, "logged out");
    },
    /* The chat in a window of its own (Tawk_API.popup); where the browser blocks the window,
     * the chat opens in the page instead. */
    popup: function (w) {
      if (w.popup && !w.popup.closed) {
        w.popup.focus();
        return;
      }
      var url = new URL(w.frameUrl("panel.html"));
      url.searchParams.set("popup", "1");
      var opened = window.open(url.href, "porch-chat", "popup,width=400,height=640");
      if (!opened) {
        logError("the browser blocked the chat's window; opening it in the page");
        w.setVisibility("maximized");
        return;
      }
      w.popup = opened;
      if (w.visibility === "maximized") w.setVisibility("minimized");
    },
    /* Tawk_API.start({showWidget}): a widget that did not start by itself starts now. */
    start: function (w, options) {
      if (w.started) return;
      w.started = true;
      if (isObject(options) && options.showWidget === true) w.setVisibility("minimized");
      if (w.wantsRuntime && w.ticket) w.bootWhenIdle();
    },
    /* Disconnect: the panel and its runtime go; the launcher stays, and opening the chat (or
     * a command) starts them again. */
    shutdown: function (w) {
      w.stopRuntime("SESSION_EXPIRED", "the widget was shut down");
      if (w.visibility === "maximized" && !w.config.embedIn) w.setVisibility("minimized");
    },
    set_language: function (w, value) {
      var locale = normalizeLocale(value);
      if (!locale) {
        logError("set_language: " + JSON.stringify(value) + " is not a supported language (" +
          LOCALES.join(", ") + "); keeping " + w.locale);
        return;
      }
      w.setLocale(locale);
    },
    set_theme: function (w, value) {
      if (THEMES.indexOf(value) < 0) {
        logError("set_theme: expected one of " + THEMES.join(", ") + ", got " + JSON.stringify(value));
        return;
      }
      w.theme = value;
      w.applyTheme();
    },
  };

  var GETTERS = {
    state: function (w) { return { visibility: w.visibility }; },
    sdk_info: function () {
      return { version: VERSION, scriptTagVersion: scriptVersion, compatibilityMode: "off",
               transport: "mixed" };
    },
    unread_count: function (w) { return w.unread; },
    theme: function (w) { return w.theme; },
  };

  /* --- the public API ----------------------------------------------------------------------- */

  /* The controller: the one way either public API acts on the widget. `name` is a host method
   * (METHODS) or a runtime command (RUNTIME_COMMANDS); `done(error, message)`, when given, is
   * called exactly once, with error null on success or a code. Before init() completes,
   * commands wait and are applied in order right after `initialized`. */
  function command(name, args, done) {
    if (!hasOwn(METHODS, name) && RUNTIME_COMMANDS.indexOf(name) < 0) {
      logError("unknown method " + JSON.stringify(name) + "; expected one of " +
        Object.keys(METHODS).concat(RUNTIME_COMMANDS).join(", "));
      finish(done, "UNKNOWN_COMMAND", "unknown method " + name);
      return;
    }
    if (!widget || !widget.ready || draining) {
      pendingCalls.push([name, args, done]);
      return;
    }
    apply(name, args, done);
  }

  function apply(name, args, done) {
    if (widget.failed && name !== "destroy") {
      logError("call('" + name + "') ignored: the widget failed to start");
      finish(done, "WIDGET_FAILED", "the widget failed to start");
    } else if (hasOwn(METHODS, name)) {
      METHODS[name](widget, args);
      finish(done, null, "");
    } else {
      widget.runtimeCommand(name, args, done);
    }
  }

  function finish(done, error, message) {
    if (typeof done !== "function") return;
    try {
      done(error, message);
    } catch (err) {
      logError("a callback threw: " + (err && err.stack || err));
    }
  }

  /* Where the configuration comes from: window.__twt, or a façade's own (the Tawk_API layer
   * replaces this). */
  var pageConfig = function () { return readConfig(window.__twt); };

  /* The API's init(): the widget is started before it returns, if the page has its body. */
  function init() { initWidget(false); }

  /* `inOwnTask`: start the widget in a task of its own rather than the caller's (core.js's own
   * evaluation, see the end of this file). */
  function initWidget(inOwnTask) {
    if (widget && !widget.failed) return;
    if (widget) widget.teardown();
    var config = pageConfig();
    if (!config.appid && !config.property_id) {
      logError("window.__twt.appid is required (a non-empty string)");
      widget = null;
      emit("bootstrap_failed", { reason: "invalid_bootstrap", source: "config", mode: "embedded" });
      return;
    }
    widget = new Widget(config);
    var instance = widget;
    var steps = [
      function () { instance.start(); },
      /* `initialized` first; then every call made before it (and from its handlers), in the
       * order the page made them. */
      function () {
        instance.ready = true;
        draining = true;
        try {
          emit("initialized");
          while (pendingCalls.length && instance === widget) {
            var next = pendingCalls.shift();
            apply(next[0], next[1], next[2]);
          }
        } finally {
          draining = false;
        }
      },
      function () { instance.bootstrap(); },
    ];
    /* With `inOwnTask`, each step in a task of its own: the launcher's frame, `initialized`, the
     * bootstrap request. */
    function run() {
      if (instance !== widget) return;
      steps.shift()();
      if (!steps.length) return;
      if (inOwnTask) setTimeout(run, 0);
      else run();
    }
    if (!document.body) document.addEventListener("DOMContentLoaded", run, { once: true });
    else if (inOwnTask) setTimeout(run, 0);
    else run();
  }

  var api = {
    _q: [],
    version: VERSION,
    on: function (event, handler) { addListener(event, handler, false); },
    once: function (event, handler) { addListener(event, handler, true); },
    off: function (event, handler) {
      if (!listeners[event]) return;
      listeners[event] = handler === undefined ? [] : listeners[event].filter(function (l) {
        return l.fn !== handler;
      });
    },
    call: function (method, payload, done) { command(method, payload, done); },
    get: function (getter) {
      if (!widget || !widget.ready) {
        throw new Error(PREFIX + " get('" + getter + "') called before init() completed " +
          "(or after destroy); wait for the 'initialized' event");
      }
      if (!Object.prototype.hasOwnProperty.call(GETTERS, getter)) {
        throw new Error(PREFIX + " unknown getter " + JSON.stringify(getter) + "; expected one of " +
          Object.keys(GETTERS).join(", "));
      }
      return GETTERS[getter](widget);
    },
    init: init,
    login: function (sbs, sbsMm, ranstr, name, nickname, email, phone) {
      command("login", { sbs: sbs, sbs_mm: sbsMm, ranstr: ranstr, name: name, nickname: nickname,
                      email: email, phone: phone });
    },
    setLanguage: function (locale) { command("set_language", locale); },
    scriptTagVersion: function () { return scriptVersion; },
  };

  /* __PORCH_FACADE__ */

  /* Replace the installation stub, then replay what the page queued before core.js loaded. */
  var stub = window.TWTChatWidget;
  if (stub && stub.version === VERSION && typeof stub.init === "function") return;
  window.TWTChatWidget = api;
  var queue = stub && Array.isArray(stub._q) ? stub._q : [];
  queue.forEach(function (entry) {
    var name = entry && entry[0];
    if (typeof api[name] !== "function" || name === "_q") {
      logError("dropped queued call to unknown function " + JSON.stringify(name));
      return;
    }
    api[name].apply(api, Array.prototype.slice.call(entry[1] || []));
  });
  /* Not in this script's own task: the launcher's frame, `initialized` with its handlers and the
   * bootstrap request, done with its evaluation, made one task of 50-80 ms now and then on a
   * 2-core machine (a long task on the host page). Apart, each takes 2-20 ms. */
  if (!(isObject(window.__twt) && window.__twt.asyncInit === true)) initWidget(true);
})(window, document);
