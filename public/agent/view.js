// The agent console's DOM writer, on the page's main thread.
//
// console.py runs in a worker, where every DOM access is a synchronous round trip to this thread:
// drawing 200 list rows from there node by node takes seconds. So the worker decides what to draw
// and hands over one JSON patch per animation frame; these functions apply it with plain DOM
// APIs. Visitor and agent text only ever goes through textContent; links are made here from the
// (text, href) pieces the worker computed, and only for http(s) hrefs. Every word of the console's
// own comes from porchI18n (i18n.js): the page's marked elements are translated here, the rest
// arrives worded by the worker. What people wrote (names, messages, details) is dir="auto".
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function el(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  function safeHref(href) {
    return typeof href === "string" && /^https?:\/\//i.test(href) ? href : null;
  }

  function link(text, href) {
    const anchor = el("a");
    anchor.href = href;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer nofollow";
    anchor.textContent = text;
    return anchor;
  }

  // [[text, href|null], ...] as text nodes and safe links.
  function pieces(into, parts) {
    for (const [text, href] of parts) {
      const safe = safeHref(href);
      into.append(safe ? link(text, safe) : document.createTextNode(text));
    }
  }

  // --- the conversation list: keyed rows, rewritten only when told, moved minimally ----------
  const rows = new Map(); // conversation id -> {li, button, parts, view}
  let order = [];
  const ROW_PARTS = [
    ["name", "conversation-name"],
    ["unread", "conversation-unread"],
    ["unreadLabel", "visually-hidden"],
    ["flags", "conversation-flags"],
    ["last", "conversation-last"],
    ["assignee", "conversation-assignee"],
  ];

  function newRow(id) {
    const li = el("li");
    const button = el("button", "conversation");
    button.type = "button";
    button.dataset.conversationId = id;
    const parts = {};
    for (const [key, className] of ROW_PARTS) {
      parts[key] = el("span", className);
      button.append(parts[key]);
    }
    parts.name.dir = "auto"; // the visitor's name and words run their own way
    parts.last.dir = "auto";
    parts.unread.setAttribute("aria-hidden", "true");
    parts.unread.hidden = true;
    li.append(button);
    const row = { li, button, parts, view: {} };
    rows.set(id, row);
    return row;
  }

  function drawRow(row, view) {
    const old = row.view;
    let changed = 0;
    const set = (key, write) => {
      if (old[key] !== view[key]) {
        write(view[key]);
        changed = 1;
      }
    };
    const { parts, button } = row;
    set("name", (v) => (parts.name.textContent = v));
    set("last", (v) => (parts.last.textContent = v));
    set("unread", (v) => {
      parts.unread.textContent = v ? String(v) : "";
      parts.unread.hidden = !v;
    });
    set("unreadLabel", (v) => (parts.unreadLabel.textContent = v ? `, ${v}` : ""));
    set("flags", (v) => (parts.flags.textContent = v));
    set("assignee", (v) => (parts.assignee.textContent = v));
    set("current", (v) => button.setAttribute("aria-current", v ? "true" : "false"));
    set("ended", (v) => (button.dataset.ended = String(v)));
    set("offline", (v) => (button.dataset.offline = String(v)));
    set("online", (v) => (button.dataset.online = String(v)));
    row.view = view;
    if (changed) button.dataset.writes = String(Number(button.dataset.writes || 0) + 1);
    return changed;
  }

  function list(patch) {
    const started = performance.now();
    const container = $("conversations");
    const wanted = patch.order || order;
    const keep = new Set(wanted);
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        row.li.remove();
        rows.delete(id);
      }
    }
    let touched = 0;
    for (const [id, view] of patch.rows) {
      touched += drawRow(rows.get(id) || newRow(id), view);
    }
    if (patch.order) {
      const focusedId = document.activeElement && document.activeElement.dataset
        ? document.activeElement.dataset.conversationId : undefined;
      const current = order.filter((id) => rows.has(id) && keep.has(id));
      for (let index = 0; index < wanted.length; index++) {
        const id = wanted[index];
        if (current[index] === id) continue;
        const anchor = index < current.length ? rows.get(current[index]).li : null;
        container.insertBefore(rows.get(id).li, anchor);
        const at = current.indexOf(id);
        if (at >= 0) current.splice(at, 1);
        current.splice(index, 0, id);
      }
      order = wanted.slice();
      if (focusedId && rows.has(focusedId) && document.activeElement !== rows.get(focusedId).button) {
        rows.get(focusedId).button.focus();
      }
    }
    if (!touched && !patch.order) return; // a frame that changed nothing keeps the last stats
    const ms = performance.now() - started;
    container.dataset.domMs = ms.toFixed(1);
    container.dataset.workerMs = String(patch.worker_ms);
    container.dataset.renderedRows = String(order.length);
    container.dataset.touchedRows = String(touched);
  }

  function clearList() {
    rows.clear();
    order = [];
    $("conversations").replaceChildren();
  }

  function focusRow(id) {
    const row = rows.get(id);
    (row ? row.button : $("conversations-heading")).focus();
  }

  // --- the open conversation's messages -------------------------------------------------------
  const bySeq = new Map(); // seq -> li
  const pendingNodes = new Map(); // client id -> li

  function bubble(m) {
    const li = el("li", `message message-${m.author}`);
    li.dataset.author = m.author;
    if (m.event) li.dataset.event = m.event;
    if (m.masked && m.masked.length) li.dataset.masked = m.masked.join(" "); /* not on pending */
    const meta = el("span", "message-meta");
    meta.textContent = m.meta;
    const text = el("p", "message-text");
    text.dir = "auto"; // a visitor's Arabic or Hebrew reads right to left in the English console
    pieces(text, m.pieces);
    li.append(meta, text);
    if (m.file) {
      const href = safeHref(m.file.href);
      const anchor = el("a", "message-file");
      anchor.target = "_blank";
      anchor.rel = "noopener noreferrer nofollow";
      if (href) anchor.href = href;
      anchor.textContent = m.file.label;
      if (m.file.image && href) {
        const image = el("img", "message-image");
        image.src = href;
        image.alt = m.file.name;
        image.loading = "lazy";
        anchor.prepend(image);
      }
      li.append(anchor);
    }
    return li;
  }

  function insertBySeq(container, seq, node) {
    let before = null;
    let bestSeq = Infinity;
    for (const [other, otherNode] of bySeq) {
      if (other > seq && other < bestSeq) {
        bestSeq = other;
        before = otherNode;
      }
    }
    if (!before) before = pendingNodes.values().next().value || null;
    container.insertBefore(node, before);
  }

  function messages(patch) {
    const container = $("messages");
    if (patch.reset) {
      container.replaceChildren();
      bySeq.clear();
      pendingNodes.clear();
    }
    let added = false;
    for (const m of patch.add) {
      if (m.seq != null && bySeq.has(m.seq)) continue;
      const settled = m.client_id != null ? pendingNodes.get(m.client_id) : undefined;
      if (settled && m.seq != null) {
        // Our reply was stored: the pending bubble becomes the message (a file's link and
        // thumbnail exist only now, with the stored file's URL).
        pendingNodes.delete(m.client_id);
        const stored = m.file ? bubble(m) : settled;
        if (stored !== settled) settled.replaceWith(stored);
        stored.removeAttribute("data-pending");
        stored.dataset.seq = String(m.seq);
        stored.querySelector(".message-meta").textContent = m.meta;
        bySeq.set(m.seq, stored);
        continue;
      }
      const node = bubble(m);
      if (m.seq == null) {
        if (pendingNodes.has(m.client_id)) continue;
        node.dataset.pending = "true";
        container.append(node);
        pendingNodes.set(m.client_id, node);
      } else {
        node.dataset.seq = String(m.seq);
        insertBySeq(container, m.seq, node);
        bySeq.set(m.seq, node);
      }
      added = true;
    }
    for (const seq of patch.seen) {
      const node = bySeq.get(seq);
      if (node && node.dataset.seen !== "true") {
        node.dataset.seen = "true";
        node.querySelector(".message-meta").textContent += ` · ${patch.seen_label}`;
      }
    }
    if (added) container.scrollTop = container.scrollHeight;
  }

  // --- the visitor details panel --------------------------------------------------------------
  function definitions(into, entries) {
    into.replaceChildren();
    for (const [term, value, isLink] of entries) {
      const dt = el("dt");
      dt.textContent = term;
      const dd = el("dd");
      dd.dir = "auto"; // the visitor's own words
      if (isLink) pieces(dd, value);
      else dd.textContent = value;
      into.append(dt, dd);
    }
  }

  function details(d) {
    $("details").hidden = !d.shown;
    definitions($("details-fields"), d.fields);
    definitions($("details-attributes"), d.attributes);
    const events = $("details-events");
    events.replaceChildren(...d.events.map((text) => {
      const li = el("li");
      li.textContent = text;
      return li;
    }));
    const past = $("details-past");
    past.replaceChildren(...d.past.map(([id, text]) => {
      const li = el("li");
      const button = el("button", "link");
      button.type = "button";
      button.dataset.conversationId = id;
      button.textContent = text;
      li.append(button);
      return li;
    }));
  }

  // --- everything else, from one patch per frame ----------------------------------------------
  const ACTIONS = [
    "reply-text", "reply-send", "reply-file", "revoke-visitor", "end-chat", "join", "leave",
    "transfer", "transfer-to", "back",
  ];

  function render(json) {
    const p = JSON.parse(json);
    if (p.status) {
      const status = $("status");
      status.dataset.state = p.status[0];
      status.textContent = p.status[1];
    }
    if (p.presence !== undefined) {
      $("presence").value = p.presence;
      document.body.dataset.presence = p.presence;
    }
    if (p.admin !== undefined) $("settings-open").hidden = !p.admin;
    if (p.views) {
      for (const [view, count] of Object.entries(p.views.badges)) {
        const badge = document.querySelector(`[data-badge="${view}"]`);
        badge.textContent = count ? String(count) : "";
        badge.hidden = !count;
        badge.setAttribute("aria-label", p.views.labels[view]);
        const button = document.querySelector(`button[data-view="${view}"]`);
        button.setAttribute("aria-pressed", view === p.views.pressed ? "true" : "false");
      }
    }
    if (p.list) list(p.list);
    if (p.empty !== undefined) {
      $("conversations-empty").textContent = p.empty;
      $("conversations-empty").hidden = !p.empty;
    }
    if (p.open !== undefined) {
      document.body.dataset.open = p.open;
      $("announcer").textContent = "";
    }
    if (p.title !== undefined) $("conversation-title").textContent = p.title;
    if (p.enabled) for (const id of ACTIONS) $(id).disabled = !p.enabled[id];
    if (p.colleagues) {
      $("transfer-to").replaceChildren(...p.colleagues.map(([id, label]) => new Option(label, id)));
    }
    if (p.typing !== undefined) $("typing").textContent = p.typing;
    if (p.messages) messages(p.messages);
    if (p.details) details(p.details);
    if (p.tags) {
      const input = $("tags-input");
      if (document.activeElement !== input) input.value = p.tags.join(", ");
      $("details").dataset.tags = p.tags.join(",");
    }
    if (p.announce !== undefined) $("announcer").textContent = p.announce;
    if (p.error !== undefined) {
      $("console-error").textContent = p.error;
      $("console-error").hidden = !p.error;
    }
  }

  // --- file upload: the File never leaves the page ---------------------------------------------
  // POSTs the reply box's chosen file as the raw body (its name URL-encoded in X-Filename, as
  // the server takes uploads; the session cookie authenticates) and answers JSON text
  // {status, body, name} (or {none: true}).
  async function upload(url) {
    const picker = $("reply-file");
    const file = picker.files[0];
    if (!file) return JSON.stringify({ none: true, status: 0, body: {}, name: "" });
    const headers = {
      "X-Filename": encodeURIComponent(file.name),
      "Content-Type": file.type || "application/octet-stream",
    };
    picker.disabled = true;
    try {
      const response = await fetch(url, { method: "POST", body: file, headers, credentials: "include" });
      const body = await response.json().catch(() => ({}));
      return JSON.stringify({ status: response.status, body, name: file.name });
    } catch (error) {
      return JSON.stringify({ status: 0, body: {}, name: file.name }); // the worker words it
    } finally {
      picker.value = "";
      picker.disabled = false;
    }
  }

  // --- the agent's language: the page is translated as soon as it is parsed; the worker redraws
  // its own words when the choice changes (console.py listens to the same select) ---------------
  const language = $("language");
  porchI18n.translate();
  language.value = porchI18n.locale();
  language.addEventListener("change", () => porchI18n.setLocale(language.value));

  window.porchView = { render, clearList, focusRow, upload };
})();
