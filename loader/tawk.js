  /*
   * window.Tawk_API: tawk.to's JavaScript API over core.js's controller (docs/migrating-from-tawk.md).
   *
   * Not a script of its own: the build inserts it into core.js at its __PORCH_FACADE__ mark, as
   * public/install/tawk.js, which the server answers at /<propertyId>/<widgetId> (the URL tawk's
   * snippet and official wrappers load). It shares core.js's closure (command, widget, emit's
   * observers), so a TWTChatWidget site never downloads a byte of it.
   */
  var TAWK_CALLBACKS = {
    /* event -> [Tawk_API callback, window CustomEvent the official wrappers listen to] */
    load: ["onLoad", "tawkLoad"],
    beforeLoad: ["onBeforeLoad", "tawkBeforeLoad"],
    status: ["onStatusChange", "tawkStatusChange"],
    maximized: ["onChatMaximized", "tawkChatMaximized"],
    minimized: ["onChatMinimized", "tawkChatMinimized"],
    hidden: ["onChatHidden", "tawkChatHidden"],
    started: ["onChatStarted", "tawkChatStarted"],
    ended: ["onChatEnded", "tawkChatEnded"],
    prechat: ["onPrechatSubmit", "tawkPrechatSubmit"],
    offline: ["onOfflineSubmit", "tawkOfflineSubmit"],
    visitorMessage: ["onChatMessageVisitor", "tawkChatMessageVisitor"],
    agentMessage: ["onChatMessageAgent", "tawkChatMessageAgent"],
    systemMessage: ["onChatMessageSystem", "tawkChatMessageSystem"],
    agentJoin: ["onAgentJoinChat", "tawkAgentJoinChat"],
    agentLeave: ["onAgentLeaveChat", "tawkAgentLeaveChat"],
    satisfaction: ["onChatSatisfaction", "tawkChatSatisfaction"],
    visitorName: ["onVisitorNameChanged", "tawkVisitorNameChanged"],
    fileUpload: ["onFileUpload", "tawkFileUpload"],
    tags: ["onTagsUpdated", "tawkTagsUpdated"],
    unread: ["onUnreadCountChanged", "tawkUnreadCountChanged"],
  };
  var TAWK_PATH = /\/([0-9a-f]{24})\/([a-z0-9]{1,50})\/?$/;

  /* Executed twice (an SPA remount, an old wrapper injecting it again): the first one stays. */
  var running = window.TWTChatWidget;
  if (running && running.version === VERSION && typeof running.init === "function") return;

  /* The page's own object: integrations keep a reference to it, so it is extended, never replaced. */
  var Tawk_API = isObject(window.Tawk_API) ? window.Tawk_API : (window.Tawk_API = {});
  var chat = { ongoing: false, engaged: false, status: null };

  function tawkFire(kind, payload) {
    var names = TAWK_CALLBACKS[kind];
    var callback = Tawk_API[names[0]];
    if (typeof callback === "function") {
      try {
        if (payload === undefined) callback(); else callback(payload);
      } catch (err) {
        logError("Tawk_API." + names[0] + " threw: " + (err && err.stack || err));
      }
    }
    var event;
    try {
      event = new CustomEvent(names[1], { detail: payload });
    } catch (err) {
      return; /* no CustomEvent constructor: callbacks only */
    }
    window.dispatchEvent(event);
  }

  var switchedTo = null; /* the widget switchWidget() chose, in place of the script URL's */

  function tawkConfig() {
    var ids = TAWK_PATH.exec(scriptUrl.pathname);
    if (!ids && !switchedTo) {
      logError("the Tawk_API script must be loaded as /<propertyId>/<widgetId>, not " +
        scriptUrl.pathname);
      return {};
    }
    var config = switchedTo ? { property_id: switchedTo.property_id,
      widget_id: switchedTo.widget_id } : { property_id: ids[1], widget_id: ids[2] };
    config.autoStart = Tawk_API.autoStart !== false;
    /* Porch's consent mode, as on window.__twt (docs/migrating-from-tawk.md). */
    if (Tawk_API.consent === "required") config.consent = "required";
    /* Porch's privacy filters, as on window.__twt: on unless false; the site's own patterns. */
    if (Tawk_API.privacyFilter === false) config.privacyFilter = false;
    if (Array.isArray(Tawk_API.privacyPatterns)) {
      config.privacyPatterns = Tawk_API.privacyPatterns.filter(function (p) { return typeof p === "string"; });
    }
    var visitor = isObject(Tawk_API.visitor) ? Tawk_API.visitor : {};
    ["name", "email"].forEach(function (key) {
      if (typeof visitor[key] === "string" && visitor[key]) config[key] = visitor[key];
    });
    /* Secure mode: the server checks it and shows the email to agents as verified. */
    if (typeof visitor.hash === "string" && visitor.hash) config.profile_hash = visitor.hash;
    var style = isObject(Tawk_API.customStyle) ? Tawk_API.customStyle : {};
    var zIndex = /^\s*(-?\d+)\s*(!\s*important)?\s*$/.exec(String(style.zIndex));
    if (zIndex) {
      config.zIndex = Number(zIndex[1]);
      config.zIndexImportant = Boolean(zIndex[2]);
    } else if (style.zIndex !== undefined) {
      logError("Tawk_API.customStyle.zIndex must be an integer or a string such as '1000 " +
        "!important', got " + JSON.stringify(style.zIndex) + "; ignored");
    }
    var visibility = isObject(style.visibility) ? style.visibility : {};
    config.placement = {};
    ["desktop", "mobile"].forEach(function (device) {
      var spot = visibility[device];
      if (!isObject(spot)) return;
      var place = {};
      if (TAWK_POSITIONS.indexOf(spot.position) >= 0) place.position = spot.position;
      ["xOffset", "yOffset"].forEach(function (key) {
        var value = typeof spot[key] === "string" ? parseFloat(spot[key]) : spot[key];
        if (typeof value === "number" && isFinite(value)) place[key] = value;
      });
      config.placement[device] = place;
    });
    if (typeof Tawk_API.embedded === "string" && Tawk_API.embedded) {
      config.embedIn = Tawk_API.embedded;
    }
    return config;
  }

  pageConfig = tawkConfig;

  /* Tawk_API.login(data): `userId` and `hash` (HMAC-SHA256 of the userId with the API key, checked
   * by the server), `name` as a string or {first, last}, `email`, `phone`; other keys become
   * custom attributes. Null (and why, logged) when it cannot be a login. */
  function tawkLoginFrom(data) {
    if (!isObject(data) || typeof data.userId !== "string" || !data.userId ||
        typeof data.hash !== "string" || !data.hash) {
      logError("Tawk_API.login needs userId and hash (non-empty strings)");
      return null;
    }
    var name = data.name;
    if (isObject(name)) {
      name = [name.first, name.last].filter(function (p) { return typeof p === "string" && p; })
        .join(" ");
    }
    var attributes = {};
    Object.keys(data).forEach(function (key) {
      if (["userId", "hash", "name", "email", "phone"].indexOf(key) < 0) attributes[key] = data[key];
    });
    return { tawk: {
      user_id: data.userId, hash: data.hash, name: typeof name === "string" && name ? name : null,
      email: typeof data.email === "string" ? data.email : null,
      phone: typeof data.phone === "string" ? data.phone : null, attributes: attributes,
    } };
  }

  /* Settle `callback` with the widget's next verdict: nothing when `success` happens, the reason
   * (LOGIN_FAILED, INVALID_BOOTSTRAP, ...) when the widget fails first. */
  function settleOn(success, callback) {
    var settle = answer(callback);
    var verdict = function (event, payload) {
      if (event === success) settle(null);
      else if (event === "bootstrap_failed") settle(String(payload.reason).toUpperCase());
      else return;
      observers.splice(observers.indexOf(verdict), 1);
    };
    observers.push(verdict);
  }

  /* The callback of a runtime command: tawk's callbacks get the error code, or nothing. */
  function answer(callback) {
    return function (error) {
      if (typeof callback === "function") callback(error || undefined);
    };
  }

  function visibilityNow() { return widget ? widget.visibility : "minimized"; }

  var TAWK_METHODS = {
    maximize: function () { command("maximize"); },
    minimize: function () { command("minimize"); },
    toggle: function () { command("toggle"); },
    popup: function () { command("popup"); },
    getWindowType: function () { return widget && widget.config.embedIn ? "embed" : "inline"; },
    showWidget: function () { command("show"); },
    hideWidget: function () { command("hide"); },
    toggleVisibility: function () { command(visibilityNow() === "hidden" ? "show" : "hide"); },
    getStatus: function () { return (widget && widget.pageStatus) || "offline"; },
    isChatMaximized: function () { return visibilityNow() === "maximized"; },
    isChatMinimized: function () { return visibilityNow() === "minimized"; },
    isChatHidden: function () { return visibilityNow() === "hidden"; },
    isChatOngoing: function () { return chat.ongoing; },
    isVisitorEngaged: function () { return chat.engaged; },
    endChat: function () { command("chat.end"); },
    start: function (options) { command("start", isObject(options) ? options : {}); },
    shutdown: function () { command("shutdown"); },
    grantConsent: function () { command("consent"); },
    widgetPosition: function () {
      var placement = widget && widget.config.placement;
      var spot = placement && placement.desktop;
      return (spot && spot.position) || (widget && widget.settings && widget.settings.position) ||
        "br";
    },
    setAttributes: function (attributes, callback) {
      if (!isObject(attributes)) {
        answer(callback)("INVALID_ATTRIBUTES");
        return;
      }
      var custom = {};
      var profile = {};
      Object.keys(attributes).forEach(function (key) {
        if (key === "name" || key === "email") profile[key] = attributes[key];
        else if (key !== "hash") custom[key] = attributes[key];
      });
      var args = { attributes: custom };
      if (profile.name !== undefined || profile.email !== undefined) {
        /* Only in secure mode: the server refuses a name or email whose hash is missing or
         * does not sign the email (INVALID_ATTRIBUTES). */
        args.profile = profile;
        args.hash = typeof attributes.hash === "string" ? attributes.hash : "";
      }
      command("visitor.update", args, answer(callback));
    },
    addEvent: function (name, metadata, callback) {
      if (typeof metadata === "function") {
        callback = metadata;
        metadata = {};
      }
      command("visitor.event", { name: name, metadata: metadata || {} }, answer(callback));
    },
    addTags: function (tags, callback) {
      command("tags.change", { add: tags }, answer(callback));
    },
    removeTags: function (tags, callback) {
      command("tags.change", { remove: tags }, answer(callback));
    },
    /* Another widget of a property (its own language, position, colour, greeting): the widget
     * starts again with it; the callback gets the server's verdict on the new ids. */
    switchWidget: function (data, callback) {
      if (!isObject(data) || !/^[0-9a-f]{24}$/.test(data.propertyId) ||
          !/^[a-z0-9]{1,50}$/.test(data.widgetId)) {
        logError("Tawk_API.switchWidget needs {propertyId, widgetId}");
        answer(callback)("INVALID_WIDGET");
        return;
      }
      switchedTo = { property_id: data.propertyId, widget_id: data.widgetId };
      settleOn("porch:bootstrapped", callback);
      if (widget) METHODS.destroy(widget);
      initWidget(false);
    },
    login: function (data, callback) {
      var login = tawkLoginFrom(data);
      if (!login) {
        answer(callback)("INVALID_LOGIN");
        return;
      }
      settleOn("visitor_auth_ready", callback);
      command("login", login);
    },
    logout: function (callback) { command("logout", {}, answer(callback)); },
  };
  Object.keys(TAWK_METHODS).forEach(function (name) { Tawk_API[name] = TAWK_METHODS[name]; });

  /* The bootstrap tells the status first, the runtime again when it connects: once per change. */
  function statusIs(status) {
    if (status === chat.status) return;
    chat.status = status;
    tawkFire("status", status);
  }

  /* What the widget reports, as tawk's callbacks and window events. */
  var TAWK_EVENTS = {
    "porch:bootstrapped": function (body) {
      statusIs(body.page_status);
      Tawk_API.onLoaded = function () { return true; };
      tawkFire("load");
    },
    visibility_changed: function (p) {
      tawkFire({ maximized: "maximized", minimized: "minimized", hidden: "hidden" }[p.visibility]);
    },
    page_status_changed: function (p) { statusIs(p.status); },
    unread_count_changed: function (p) { tawkFire("unread", p.count); },
    chat_started: function () {
      chat.ongoing = true;
      tawkFire("started");
    },
    chat_ended: function () {
      chat.ongoing = chat.engaged = false;
      tawkFire("ended");
    },
    chat_message: function (p) {
      if (p.author === "visitor") chat.engaged = true;
      tawkFire({ visitor: "visitorMessage", agent: "agentMessage" }[p.author] || "systemMessage",
        p.text);
    },
    agent_joined: function (p) {
      tawkFire("agentJoin", { name: p.name, position: p.position, image: p.image, id: p.id });
    },
    agent_left: function (p) { tawkFire("agentLeave", { name: p.name, id: p.id }); },
    chat_rated: function (p) { tawkFire("satisfaction", p.rating); },
    prechat_submitted: function (p) {
      tawkFire("prechat", p.answers.map(function (a) {
        return { label: a.label || a.name, answer: a.value };
      }));
    },
    offline_submitted: function (p) {
      tawkFire("offline", {
        name: p.name, email: p.email, message: p.message,
        questions: p.questions.map(function (a) {
          return { label: a.label || a.name, answer: a.value };
        }),
      });
    },
    file_uploaded: function (p) { tawkFire("fileUpload", p.url); },
    tags_updated: function (p) { tawkFire("tags", { tags: p.tags }); },
  };
  observers.push(function (event, payload) {
    if (hasOwn(TAWK_EVENTS, event)) TAWK_EVENTS[event](payload);
  });

  Tawk_API.onBeforeLoaded = function () { return true; };
  tawkFire("beforeLoad");
