"""The agent console's browser side: the only module that touches ``pyscript`` and ``js``.

It runs in a PyScript *worker* (see index.html): the WebSocket and ``fetch`` live in the worker,
and the DOM is reached through ``pyscript.document``/``window``, which needs SharedArrayBuffer,
hence the page's COOP/COEP headers. Decisions are made by :class:`ConsoleState`; this module
feeds it DOM events and socket frames, sends what it queues and draws what it holds. Visitor and
agent text only ever reaches the DOM through ``textContent``.

A worker's event handler runs after the browser has already acted on the event, so handlers whose
default action must not happen are registered with ``{"invoke": "preventDefault"}``, which
PyScript applies on the main thread while the event is still live.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import uuid
from typing import Any

import js  # the worker's own globals: WebSocket, fetch, Date
from console_state import (
    AGENT_RECEIVES,
    Connection,
    ConsoleState,
    backoff,
    remove_typed_newline,
    unread_count,
    visitor_label,
)
from pyscript import document, window
from pyscript.ffi import create_proxy, to_js

from porch_protocol import AgentWelcome, ChatMessage, ProtocolError, decode, encode

TOKEN_KEY = "porch.agent.token"
AGENT_NAME_KEY = "porch.agent.name"
STATUS_TEXT = {
    Connection.DISCONNECTED: "Disconnected",
    Connection.CONNECTING: "Connecting…",
    Connection.CONNECTED: "Connected",
    Connection.RECONNECTING: "Connection lost, reconnecting…",
}
WS_OPEN = 1


def _by_id(element_id: str) -> Any:
    return document.getElementById(element_id)


def _server_base() -> str:
    """The chat server's base URL: ``<meta name="porch-server">`` when a static host serves this
    page and the server lives elsewhere, else the page's own origin."""
    meta = document.querySelector('meta[name="porch-server"]')
    configured = str(meta.content).strip().rstrip("/") if meta else ""
    return configured or str(window.location.origin)


class Listeners:
    """DOM/socket listeners whose proxies this module owns and destroys."""

    def __init__(self) -> None:
        self._entries: list[tuple[Any, str, Any]] = []

    def add(self, target: Any, event: str, handler: Any, *, prevent_default: bool = False) -> None:
        proxy = create_proxy(handler)
        options = to_js({"invoke": "preventDefault"}) if prevent_default else False
        target.addEventListener(event, proxy, options)
        self._entries.append((target, event, proxy))

    def clear(self) -> None:
        for target, event, proxy in self._entries:
            target.removeEventListener(event, proxy)
            proxy.destroy()
        self._entries = []


class ConsoleApp:
    def __init__(self) -> None:
        self.base = _server_base()
        self.state = ConsoleState()
        self.token: str | None = None
        self.socket: Any = None
        self.socket_listeners = Listeners()
        self.page_listeners = Listeners()
        self.delays = backoff()
        self.reconnect_task: asyncio.Task[None] | None = None
        self.items: dict[str, dict[str, Any]] = {}  # conversation id -> its list item's nodes
        self.item_order: list[str] = []
        self.shown_status: Connection | None = None
        self.shown_id: str | None = None  # the conversation whose messages #messages holds
        self.seq_nodes: dict[int, Any] = {}
        self.pending_nodes: dict[str, Any] = {}

    # --- boot, login, logout --------------------------------------------------------------------

    def boot(self) -> None:
        on = self.page_listeners.add
        on(_by_id("login-form"), "submit", self.on_login_submit, prevent_default=True)
        on(_by_id("reply-form"), "submit", self.on_reply_submit, prevent_default=True)
        on(_by_id("reply-text"), "keydown", self.on_reply_keydown)
        on(_by_id("conversations"), "click", self.on_conversation_click)
        on(_by_id("revoke-visitor"), "click", self.on_revoke_click)
        on(_by_id("logout"), "click", self.on_logout_click)
        _by_id("login-fieldset").disabled = False
        document.body.dataset.ready = "true"
        token = window.sessionStorage.getItem(TOKEN_KEY)
        if token:
            self.start_session(str(token), window.sessionStorage.getItem(AGENT_NAME_KEY))
        else:
            self.show_login()

    def show_login(self, error: str | None = None) -> None:
        _by_id("console-view").hidden = True
        _by_id("logout").hidden = True
        _by_id("agent-name").textContent = ""
        _by_id("login-view").hidden = False
        self.show_login_error(error)
        self.render_status()
        _by_id("login-email").focus()

    def show_login_error(self, error: str | None) -> None:
        node = _by_id("login-error")
        node.textContent = error or ""
        node.hidden = not error

    async def on_login_submit(self, _event: Any) -> None:
        email = str(_by_id("login-email").value).strip()
        password = str(_by_id("login-password").value)
        submit = _by_id("login-submit")
        submit.disabled = True
        self.show_login_error(None)
        try:
            status, body = await self.post_json(
                "/api/v1/agent/login", {"email": email, "password": password}
            )
        except Exception:  # fetch rejects only on network failure
            self.show_login_error("Cannot reach the chat server. Check your connection and retry.")
            return
        finally:
            submit.disabled = False
        if status == 200 and isinstance(body.get("token"), str):
            _by_id("login-password").value = ""
            agent = body.get("agent") or {}
            name = agent.get("name") if isinstance(agent, dict) else None
            window.sessionStorage.setItem(TOKEN_KEY, body["token"])
            if isinstance(name, str):
                window.sessionStorage.setItem(AGENT_NAME_KEY, name)
            self.start_session(body["token"], name)
        elif status == 401:
            self.show_login_error(body.get("message") or "Wrong email or password.")
        else:
            self.show_login_error(f"Sign-in failed (HTTP {status}). Try again later.")

    async def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        init = to_js(
            {
                "method": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(payload),
            }
        )
        response = await js.fetch(self.base + path, init)
        try:
            body = json.loads(str(await response.text()))
        except ValueError:
            body = {}
        return int(response.status), body if isinstance(body, dict) else {}

    def start_session(self, token: str, agent_name: str | None) -> None:
        self.token = token
        _by_id("login-view").hidden = True
        _by_id("console-view").hidden = False
        _by_id("logout").hidden = False
        _by_id("agent-name").textContent = agent_name or ""
        _by_id("conversations-heading").focus()
        self.connect()

    def end_session(self, error: str | None = None) -> None:
        """Forget this login entirely: socket, state, storage and everything drawn from them."""
        window.sessionStorage.removeItem(TOKEN_KEY)
        window.sessionStorage.removeItem(AGENT_NAME_KEY)
        self.token = None
        if self.reconnect_task is not None:
            self.reconnect_task.cancel()
            self.reconnect_task = None
        self.drop_socket(1000)
        self.state = ConsoleState()
        self.delays = backoff()
        document.body.removeAttribute("data-session")
        _by_id("conversations").replaceChildren()
        self.items, self.item_order = {}, []
        self.render()
        self.show_login(error)

    def on_logout_click(self, _event: Any) -> None:
        self.end_session()

    # --- the socket -----------------------------------------------------------------------------

    def connect(self) -> None:
        self.reconnect_task = None
        if self.token is None:
            return
        self.state.connection_started()
        self.render_status()
        url = self.base.replace("http", "ws", 1) + "/ws/agent"
        self.socket = socket = js.WebSocket.new(url)
        on = self.socket_listeners.add
        on(socket, "open", lambda _e: self.on_socket_open(socket))
        on(socket, "message", lambda e: self.on_socket_message(socket, e))
        on(socket, "close", lambda e: self.on_socket_close(socket, e))

    def drop_socket(self, code: int) -> None:
        socket, self.socket = self.socket, None
        self.socket_listeners.clear()
        if socket is not None:
            socket.close(code)

    def on_socket_open(self, socket: Any) -> None:
        if socket is self.socket and self.token is not None:
            self.state.connection_opened(self.token)
            self.flush()

    def on_socket_message(self, socket: Any, event: Any) -> None:
        if socket is not self.socket:
            return
        try:
            frame = decode(str(event.data), AGENT_RECEIVES)
        except ProtocolError as exc:
            js.console.error(f"porch: dropped a bad frame: {exc}")
            return
        self.state.receive_frame(frame)
        if isinstance(frame, AgentWelcome):
            self.delays = backoff()
            document.body.dataset.session = "ready"
            _by_id("agent-name").textContent = frame.agent_name
        self.flush()
        self.render()

    def on_socket_close(self, socket: Any, event: Any) -> None:
        if socket is not self.socket:
            return
        self.drop_socket(1000)
        if self.state.connection_lost(int(event.code)):
            self.render_status()
            delay = next(self.delays)
            self.reconnect_task = asyncio.ensure_future(self.reconnect_after(delay))
        else:
            self.end_session("Your session has expired. Please sign in again.")

    async def reconnect_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.connect()

    def flush(self) -> None:
        frames = self.state.frames_to_send()
        socket = self.socket
        if socket is None or socket.readyState != WS_OPEN:
            return  # a reconnection's welcome makes the state queue what still matters
        for frame in frames:
            socket.send(encode(frame))

    # --- agent actions --------------------------------------------------------------------------

    def on_conversation_click(self, event: Any) -> None:
        button = event.target.closest("button[data-conversation-id]")
        if not button:
            return
        self.state.open_conversation(str(button.getAttribute("data-conversation-id")))
        self.flush()
        self.render()
        _by_id("reply-text").focus()

    def on_reply_keydown(self, event: Any) -> None:
        if event.key != "Enter" or event.shiftKey or event.isComposing:
            return
        textarea = _by_id("reply-text")
        self.send_reply(remove_typed_newline(str(textarea.value), int(textarea.selectionStart)))

    def on_reply_submit(self, _event: Any) -> None:
        self.send_reply(str(_by_id("reply-text").value))

    def send_reply(self, text: str) -> None:
        try:
            pending = self.state.send_reply(text, uuid.uuid4().hex)
        except ValueError as exc:
            self.show_console_error(str(exc))
            return
        if pending is None:
            return
        _by_id("reply-text").value = ""
        self.flush()
        self.render()

    def on_revoke_click(self, _event: Any) -> None:
        summary = self.state.open_summary
        if summary is None:
            return
        question = (
            f"Close {visitor_label(summary)}'s session? They will be signed out of the chat "
            "and start over as a new visitor."
        )
        if window.confirm(question):
            self.state.revoke_visitor()
            self.flush()

    # --- drawing --------------------------------------------------------------------------------

    def render(self) -> None:
        self.render_status()
        self.render_list()
        self.render_conversation()
        for text in self.state.announcements_to_make():
            _by_id("announcer").textContent = text
        self.show_console_error(self.state.last_error)

    def show_console_error(self, error: str | None) -> None:
        node = _by_id("console-error")
        node.textContent = error or ""
        node.hidden = not error

    def render_status(self) -> None:
        connection = self.state.connection
        if connection is not self.shown_status:
            self.shown_status = connection
            node = _by_id("status")
            node.dataset.state = connection.value
            node.textContent = STATUS_TEXT[connection]

    def render_list(self) -> None:
        container = _by_id("conversations")
        summaries = self.state.conversation_order()
        wanted = [s.id for s in summaries]
        for gone in set(self.items) - set(wanted):
            self.items.pop(gone)["li"].remove()
        for summary in summaries:
            item = self.items.get(summary.id) or self._new_item(summary.id)
            last = summary.last_message.text if summary.last_message else ""
            unread = unread_count(summary)
            view = (
                visitor_label(summary),
                last,
                unread,
                summary.closed,
                summary.id == self.state.open_id,
            )
            if item["view"] == view:
                continue
            item["view"] = view
            item["name"].textContent = view[0] + (" (closed)" if summary.closed else "")
            item["last"].textContent = last
            item["unread"].textContent = str(unread) if unread else ""
            item["unread"].hidden = not unread
            item["unread_label"].textContent = f", {unread} unread" if unread else ""
            item["button"].setAttribute("aria-current", "true" if view[4] else "false")
        if wanted != self.item_order:
            focused = document.activeElement
            refocus = focused.getAttribute("data-conversation-id") if focused else None
            for conversation_id in wanted:
                container.appendChild(self.items[conversation_id]["li"])
            self.item_order = wanted
            if refocus and refocus in self.items:
                self.items[str(refocus)]["button"].focus()
        _by_id("conversations-empty").hidden = bool(wanted)

    def _new_item(self, conversation_id: str) -> dict[str, Any]:
        li = document.createElement("li")
        button = document.createElement("button")
        button.type = "button"
        button.className = "conversation"
        button.dataset.conversationId = conversation_id
        name = document.createElement("span")
        name.className = "conversation-name"
        unread = document.createElement("span")
        unread.className = "conversation-unread"
        unread.setAttribute("aria-hidden", "true")
        unread_label = document.createElement("span")
        unread_label.className = "visually-hidden"
        last = document.createElement("span")
        last.className = "conversation-last"
        button.append(name, unread, unread_label, last)
        li.appendChild(button)
        item = {
            "li": li,
            "button": button,
            "name": name,
            "last": last,
            "unread": unread,
            "unread_label": unread_label,
            "view": None,
        }
        self.items[conversation_id] = item
        return item

    def render_conversation(self) -> None:
        summary = self.state.open_summary
        messages = _by_id("messages")
        if self.state.open_id != self.shown_id:
            self.shown_id = self.state.open_id
            messages.replaceChildren()
            self.seq_nodes, self.pending_nodes = {}, {}
            _by_id("announcer").textContent = ""
        title = visitor_label(summary) if summary else "No conversation open"
        if summary and summary.source_title:
            title += f" — {summary.source_title}"
        if _by_id("conversation-title").textContent != title:
            _by_id("conversation-title").textContent = title
        can_reply = summary is not None and not summary.closed
        _by_id("reply-text").disabled = not can_reply
        _by_id("reply-send").disabled = not can_reply
        _by_id("revoke-visitor").disabled = not can_reply
        if summary is None:
            return
        added = False
        for message in self.state.open_messages():
            if message.seq in self.seq_nodes:
                continue
            node = self.pending_nodes.pop(message.client_id or "", None)
            if node is not None:  # our reply was stored: the pending bubble becomes the message
                node.removeAttribute("data-pending")
                node.dataset.seq = str(message.seq)
                node.querySelector(".message-meta").textContent = _meta(message)
            else:
                node = _message_node(message.author, _meta(message), message.text)
                node.dataset.seq = str(message.seq)
                seqs = sorted(self.seq_nodes)
                later = bisect.bisect_right(seqs, message.seq)
                before = (
                    self.seq_nodes[seqs[later]]
                    if later < len(seqs)
                    else next(iter(self.pending_nodes.values()), None)
                )
                messages.insertBefore(node, before)
                added = True
            self.seq_nodes[message.seq] = node
        for pending in self.state.open_pending():
            if pending.client_id not in self.pending_nodes:
                node = _message_node("agent", "Sending…", pending.text)
                node.dataset.pending = "true"
                messages.appendChild(node)
                self.pending_nodes[pending.client_id] = node
                added = True
        if added:
            messages.scrollTop = messages.scrollHeight


def _meta(message: ChatMessage) -> str:
    time = js.Date.new(message.created_at).toLocaleTimeString(
        js.undefined, to_js({"hour": "2-digit", "minute": "2-digit"})
    )
    return f"{message.author_name} · {time}"


def _message_node(author: str, meta: str, text: str) -> Any:
    li = document.createElement("li")
    li.className = f"message message-{author}"
    li.dataset.author = author
    meta_node = document.createElement("span")
    meta_node.className = "message-meta"
    meta_node.textContent = meta
    text_node = document.createElement("p")
    text_node.className = "message-text"
    text_node.textContent = text
    li.append(meta_node, text_node)
    return li


app = ConsoleApp()
app.boot()
