"""The agent console's browser side: the only module that touches ``pyscript`` and ``js``.

It runs in a PyScript *worker* (see index.html): the WebSocket and ``fetch`` live in the worker,
and the DOM is reached through ``pyscript.document``/``window``, which needs SharedArrayBuffer,
hence the page's COOP/COEP headers. Decisions are made by :class:`ConsoleState`; this module
feeds it DOM events and socket frames, sends what it queues and draws what it holds. Visitor and
agent text only ever reaches the DOM through ``textContent`` (links are built with DOM APIs from
:func:`porch_protocol.split_links`, http/https only).

Every DOM access from the worker is a synchronous round trip to the page, so drawing is frugal:
renders are batched per animation frame, list rows are keyed by conversation id and only the rows
the state marked dirty are rewritten (and moved, when their activity reorders them).

Everything it words comes from the page's string table in the agent's language
(``porchI18n.strings()``, loaded by i18n.js in the page's head: see docs/i18n.md); choosing another
language in the top bar redraws every word of it.

A worker's event handler runs after the browser has already acted on the event, so handlers whose
default action must not happen are registered with ``{"invoke": "preventDefault"}``, which
PyScript applies on the main thread while the event is still live.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import js  # the worker's own globals: WebSocket, fetch, Date
from console_state import (
    AGENT_RECEIVES,
    RATINGS,
    VIEWS,
    Connection,
    ConsoleState,
    Notification,
    Words,
    format_fields,
    format_hours,
    format_widgets,
    message_words,
    parse_fields,
    parse_hours,
    parse_lines,
    parse_tags,
    parse_widgets,
    remove_typed_newline,
    system_text,
    unread_count,
    visitor_label,
)
from pyscript import document, window
from pyscript.ffi import create_proxy, to_js

from porch_protocol import (
    AgentInfo,
    AgentWelcome,
    AppSettings,
    ChatMessage,
    ConversationSummary,
    ProtocolError,
    VisitorDetails,
    backoff,
    decode,
    encode,
    split_links,
)

#: The status line's words (the table's keys) for each state of the socket.
STATUS_KEYS = {
    Connection.DISCONNECTED: "status_disconnected",
    Connection.CONNECTING: "status_connecting",
    Connection.CONNECTED: "status_connected",
    Connection.RECONNECTING: "status_reconnecting",
}
WS_OPEN = 1
#: How often idleness (typing, presence) is checked, in seconds.
TICK_SECONDS = 1.0
#: The search box asks the server once typing pauses this long, in seconds.
SEARCH_PAUSE_SECONDS = 0.25
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


#: Looked up once: every object a call brings back from the page becomes a new proxy in this
#: worker, which costs 5-20 ms (traced, loaded machine; a string or number costs ~0.1 ms), and
#: ``document.getElementById`` written out in each lookup would be one more each time.
_get_element_by_id = document.getElementById


def _by_id(element_id: str) -> Any:
    return _get_element_by_id(element_id)


def _now() -> int:
    return int(js.Date.now())


def _server_base() -> str:
    """The chat server's base URL: ``<meta name="porch-server">`` when a static host serves this
    page and the server lives elsewhere, else the page's own origin."""
    meta = document.querySelector('meta[name="porch-server"]')
    configured = str(meta.content).strip().rstrip("/") if meta else ""
    return configured or str(window.location.origin)


def _words() -> tuple[str, Words]:
    """The agent's language and its strings, from the page (i18n.js)."""
    chosen = json.loads(str(window.porchI18n.strings()))
    return str(chosen["locale"]), Words(chosen["strings"])


def _is_text_field(node: Any) -> bool:
    tag = str(node.tagName or "").lower() if node else ""
    return tag in ("input", "textarea", "select") or bool(node and node.isContentEditable)


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
        self.locale, self.t = _words()
        self.state = ConsoleState(self.t)
        #: True while a stored session (cookie) is being tried: a refusal is not an error then.
        self.probing = False
        self.socket: Any = None
        self.socket_listeners = Listeners()
        self.page_listeners = Listeners()
        self.delays = backoff()
        self.reconnect_task: asyncio.Task[None] | None = None
        self.search_task: asyncio.Task[None] | None = None
        self.render_scheduled = False
        self.render_proxy = create_proxy(lambda *_: self.render())
        # What view.js has drawn, so each frame sends only the difference.
        self.item_order: list[str] = []
        self.drawn_rows: set[str] = set()
        self.shown: dict[str, Any] = {}  # what was last drawn outside the list, to skip redraws
        self.shown_id: str | None = None  # the conversation whose messages #messages holds
        self.drawn_seqs: set[int] = set()
        self.drawn_pending: set[str] = set()
        self.seen_up_to = 0
        #: The language changed: the open conversation's messages are drawn again.
        self.relabel = False
        self.audio: Any = None
        self.last_activity_note = 0
        self.tick_task: asyncio.Task[None] | None = None
        #: view.js's entry point (a deferred script, run before PyScript starts this worker).
        self.draw = window.porchView.render
        self.upload_file = window.porchView.upload
        #: The ``async`` handlers running, held so that none is collected before it ends.
        self.handler_tasks: set[asyncio.Task[None]] = set()
        #: What a click on a button with an id does (see ``on_click``).
        self.clicks: dict[str, Callable[[], Any]] = {
            "back": self.go_back,
            "join": lambda: self.act(self.state.join),
            "transfer": self.on_transfer_click,
            "leave": lambda: self.act(self.state.leave),
            "end-chat": self.on_end_click,
            "revoke-visitor": self.on_revoke_click,
            "notify-enable": self.on_notify_enable,
            "help-open": lambda: _by_id("help-dialog").showModal(),
            "settings-open": self.on_settings_open,
            "settings-cancel": lambda: _by_id("settings-dialog").close(),
            "logout": self.on_logout_click,
        }

    # --- boot, login, logout --------------------------------------------------------------------

    def boot(self) -> None:
        on = self.page_listeners.add
        # A submit's default must be prevented on the page while the event is live: per form.
        on(_by_id("login-form"), "submit", self.on_login_submit, prevent_default=True)
        on(_by_id("reply-form"), "submit", self.on_reply_submit, prevent_default=True)
        on(_by_id("tags-form"), "submit", self.on_tags_submit, prevent_default=True)
        on(_by_id("settings-form"), "submit", self.on_settings_submit, prevent_default=True)
        # Every other event bubbles: one listener on the document per kind, dispatched here on
        # the target's id, so boot brings no control over from the page (each would be a proxy,
        # 5-20 ms under load); an event brings over only its own target.
        on(document, "click", self.on_click)
        on(document, "input", self.on_input)
        on(document, "change", self.on_change)
        on(document, "focusout", self.on_focusout)  # blur, which does not bubble
        on(document, "keydown", self.on_document_keydown)
        on(document, "pointerdown", self.on_activity)
        _by_id("login-fieldset").disabled = False
        self.tick_task = asyncio.ensure_future(self.tick())
        document.body.dataset.ready = "true"
        # The session cookie of an earlier login may still be valid: try it quietly.
        self.probing = True
        _by_id("login-view").hidden = True
        self.connect()

    def show_login(self, error: str | None = None) -> None:
        _by_id("console-view").hidden = True
        for node_id in ("logout", "presence", "settings-open", "notify-enable"):
            _by_id(node_id).hidden = True
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
            self.show_login_error(self.t("login_unreachable"))
            return
        finally:
            submit.disabled = False
        if status == 200:
            _by_id("login-password").value = ""
            # The answer's token is for API clients: the console's session is the HttpOnly
            # cookie the same answer set, so no script here ever holds or stores it.
            agent = body.get("agent") or {}
            name = agent.get("name") if isinstance(agent, dict) else None
            self.start_session(name if isinstance(name, str) else None)
        elif status == 401:
            self.show_login_error(self.t("login_wrong"))
        else:
            self.show_login_error(self.t("login_failed", status=status))

    async def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        init = to_js(
            {
                "method": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(payload),
                "credentials": "include",  # the session cookie, also for a split deployment
            }
        )
        response = await js.fetch(self.base + path, init)
        return int(response.status), await _json_body(response)

    def start_session(self, agent_name: str | None) -> None:
        self.probing = False
        self.show_console(agent_name)
        self.connect()

    def show_console(self, agent_name: str | None) -> None:
        _by_id("login-view").hidden = True
        _by_id("console-view").hidden = False
        _by_id("logout").hidden = False
        _by_id("presence").hidden = False
        _by_id("agent-name").textContent = agent_name or ""
        permission = str(window.Notification.permission) if window.Notification else "denied"
        _by_id("notify-enable").hidden = permission != "default"
        _by_id("conversations-heading").focus()

    def end_session(self, error: str | None = None) -> None:
        """Forget this login entirely: socket, state and everything drawn from them."""
        self.probing = False
        if self.reconnect_task is not None:
            self.reconnect_task.cancel()
            self.reconnect_task = None
        self.drop_socket(1000)
        self.state = ConsoleState(self.t)
        self.delays = backoff()
        document.body.removeAttribute("data-session")
        window.porchView.clearList()
        self.item_order, self.drawn_rows, self.shown = [], set(), {}
        self.render()
        self.show_login(error)

    async def on_logout_click(self) -> None:
        try:
            await self.post_json("/api/v1/agent/logout", {})
        except Exception:  # offline: the cookie expires on its own; forget the login here anyway
            js.console.warn("porch: logout did not reach the server")
        self.end_session()

    # --- the socket -----------------------------------------------------------------------------

    def connect(self) -> None:
        self.reconnect_task = None
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
        if socket is self.socket:
            self.state.connection_opened()
            self.flush()

    def on_socket_message(self, socket: Any, event: Any) -> None:
        if socket is not self.socket:
            return
        try:
            frame = decode(str(event.data), AGENT_RECEIVES, max_chars=None)
        except ProtocolError as exc:
            js.console.error(f"porch: dropped a bad frame: {exc}")
            return
        self.state.receive_frame(frame)
        if isinstance(frame, AgentWelcome):
            self.delays = backoff()
            if self.probing:
                self.probing = False
                self.show_console(frame.agent_name)
            document.body.dataset.session = "ready"
            document.body.dataset.role = frame.role
            _by_id("agent-name").textContent = frame.agent_name
            self.state.note_activity(_now())
        self.flush()
        for note in self.state.notifications_to_make():
            self.notify(note)
        self.schedule_render()

    def on_socket_close(self, socket: Any, event: Any) -> None:
        if socket is not self.socket:
            return
        self.drop_socket(1000)
        if self.state.connection_lost(int(event.code)):
            self.render_status()
            delay = next(self.delays)
            self.reconnect_task = asyncio.ensure_future(self.reconnect_after(delay))
        elif self.probing:
            self.end_session()
        else:
            self.end_session(self.t("session_expired"))

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

    async def tick(self) -> None:
        """Idleness has no event: check typing and presence now and then."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self.state.connection is Connection.CONNECTED:
                now, presence = _now(), self.state.presence
                self.state.typing_idle(now)
                self.state.check_idle(now)
                self.flush()
                if self.state.presence != presence:
                    self.schedule_render()

    # --- agent actions --------------------------------------------------------------------------

    def act(self, action: Any, *args: Any) -> None:
        """Run a state action, send what it queued and redraw."""
        action(*args)
        self.flush()
        self.schedule_render()

    def on_activity(self, _event: Any) -> None:
        now = _now()
        if now - self.last_activity_note >= 1_000:  # one note a second is plenty
            self.last_activity_note = now
            self.act(self.state.note_activity, now)

    def on_click(self, event: Any) -> None:
        """A click on a button (or inside one: a view's badge), dispatched on its id, else on
        what it shows: a view, or a conversation (a list row or a past one in the details)."""
        button = event.target.closest("button")
        if not button:
            return
        control = str(button.id)
        if control:
            action = self.clicks.get(control)
            if action is not None:
                self.run(action())
            return
        view = button.getAttribute("data-view")
        if view:
            _by_id("search").value = ""
            self.act(self.state.set_view, str(view))
            return
        conversation_id = button.getAttribute("data-conversation-id")
        if conversation_id:
            self.open(str(conversation_id))

    def run(self, outcome: Any) -> None:
        """Run what a handler returned, if it is a coroutine (an ``async`` handler)."""
        if asyncio.iscoroutine(outcome):
            task = asyncio.ensure_future(outcome)
            self.handler_tasks.add(task)
            task.add_done_callback(self.handler_tasks.discard)

    def on_input(self, event: Any) -> None:
        target = event.target
        control = str(target.id)
        if control == "reply-text":
            self.act(self.state.reply_edited, str(target.value), _now())
        elif control == "search":
            self.on_search_input()

    def on_change(self, event: Any) -> None:
        target = event.target
        control = str(target.id)
        if control == "reply-file":
            self.run(self.on_file_change())
        elif control == "presence":
            self.act(self.state.set_presence, str(target.value))
        elif control == "language":
            self.on_language_change()

    def on_focusout(self, event: Any) -> None:
        if str(event.target.id) == "reply-text":
            self.act(self.state.typing_stopped)

    def on_search_input(self) -> None:
        if self.search_task is not None:
            self.search_task.cancel()
        self.search_task = asyncio.ensure_future(self.search_after_pause())

    async def search_after_pause(self) -> None:
        await asyncio.sleep(SEARCH_PAUSE_SECONDS)
        self.act(self.state.search, str(_by_id("search").value), uuid.uuid4().hex)

    def open(self, conversation_id: str) -> None:
        self.act(self.state.open_conversation, conversation_id)
        _by_id("reply-text").value = ""
        self.render()  # draw now so focus can land on enabled controls
        target = _by_id("reply-text")
        (target if not target.disabled else _by_id("conversation-title")).focus()

    def go_back(self) -> None:
        previous = self.state.open_id
        self.act(self.state.close_conversation)
        self.render()
        window.porchView.focusRow(previous or "")

    def on_reply_keydown(self, event: Any, textarea: Any) -> None:
        if event.key != "Enter" or event.shiftKey or event.isComposing:
            return
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
        self.schedule_render()

    async def on_file_change(self) -> None:
        """Upload the chosen file (view.js sends it: the File lives on the page), then send it
        as a message. An upload is refused with the server's reason; nothing else is lost."""
        conversation_id = self.state.open_id
        if conversation_id is None:
            return
        answer = json.loads(str(await self.upload_file(self.base + "/api/v1/files")))
        status, body = int(answer["status"]), answer["body"]
        self.shown.pop("actions", None)  # view.js re-enabled the picker: redraw what is allowed
        self.schedule_render()
        if answer.get("none"):
            return
        if status >= 300 or not isinstance(body, dict) or not isinstance(body.get("id"), str):
            reason = body.get("message") or body.get("error") if isinstance(body, dict) else None
            if not reason:
                reason = (
                    self.t("upload_refused", status=status)
                    if status
                    else self.t("upload_unreachable")
                )
            self.show_console_error(self.t("upload_not_sent", name=answer["name"], reason=reason))
            return
        if self.state.open_id == conversation_id:
            self.act(self.state.send_reply, "", uuid.uuid4().hex, body["id"], answer["name"])

    def on_transfer_click(self) -> None:
        agent_id = str(_by_id("transfer-to").value)
        if agent_id:
            self.act(self.state.assign, agent_id)

    def on_end_click(self) -> None:
        summary = self.state.open_summary
        if summary and window.confirm(self.t("confirm_end", name=visitor_label(summary, self.t))):
            self.act(self.state.end_conversation)

    def on_revoke_click(self) -> None:
        summary = self.state.open_summary
        if summary is None:
            return
        if window.confirm(self.t("confirm_revoke", name=visitor_label(summary, self.t))):
            self.act(self.state.revoke_visitor)

    def on_tags_submit(self, _event: Any) -> None:
        wanted = parse_tags(str(_by_id("tags-input").value))
        self.act(self.state.change_tags, wanted, uuid.uuid4().hex)

    def on_language_change(self) -> None:
        """view.js has switched the page (it listens first); redraw every word drawn from here."""
        self.locale, self.t = _words()
        self.state.set_words(self.t)
        self.shown = {}
        self.relabel = True
        self.render()

    async def on_notify_enable(self) -> None:
        """A user gesture: the only moment a browser lets a page ask for notifications and
        start audio."""
        self.ensure_audio()
        permission = await window.Notification.requestPermission()
        _by_id("notify-enable").hidden = str(permission) != "default"

    def ensure_audio(self) -> None:
        if self.audio is None and window.AudioContext:
            self.audio = window.AudioContext.new()
        if self.audio is not None and str(self.audio.state) == "suspended":
            self.audio.resume()

    def notify(self, note: Notification) -> None:
        """A new chat: a short tone (Web Audio, no asset) and a desktop notification."""
        self.ensure_audio()
        if self.audio is not None:
            audio, start = self.audio, float(self.audio.currentTime)
            tone, gain = audio.createOscillator(), audio.createGain()
            tone.frequency.value = 880
            gain.gain.setValueAtTime(0.15, start)
            gain.gain.exponentialRampToValueAtTime(0.001, start + 0.35)
            tone.connect(gain)
            gain.connect(audio.destination)
            tone.start(start)
            tone.stop(start + 0.35)
        if window.Notification and str(window.Notification.permission) == "granted":
            options = to_js({"body": note.body, "tag": f"porch-{note.conversation_id}"})
            window.Notification.new(note.title, options)

    def on_document_keydown(self, event: Any) -> None:
        target = event.target
        if str(target.id) == "reply-text":
            self.on_reply_keydown(event, target)
        self.on_activity(event)
        key = str(event.key)
        if event.altKey and key in ("ArrowDown", "ArrowUp"):
            following = self.state.neighbour(1 if key == "ArrowDown" else -1)
            if following is not None:
                self.open(following)
        elif (
            key == "Escape"
            and not _by_id("help-dialog").open
            and not _by_id("settings-dialog").open
        ):
            if self.state.open_id is not None:
                self.go_back()
        elif key == "/" and not _is_text_field(target):
            _by_id("search").focus()
        elif key == "?" and not _is_text_field(target):
            _by_id("help-dialog").showModal()

    def on_settings_open(self) -> None:
        app = self.state.app
        if app is None:
            return
        _by_id("settings-name").value = app.name
        _by_id("settings-domains").value = "\n".join(app.allowed_domains)
        _by_id("settings-offline").value = app.offline_message
        hours = app.business_hours
        _by_id("settings-timezone").value = hours.timezone if hours else ""
        _by_id("settings-hours").value = format_hours(hours)
        _by_id("settings-fields").value = format_fields(app.prechat_fields)
        # Widgets belong to a property, which only the CLI creates: without one, say so.
        has_property = bool(app.tawk_properties)
        for node_id in ("settings-widgets-label", "settings-widgets"):
            _by_id(node_id).hidden = not has_property
        _by_id("settings-widgets-none").hidden = has_property
        _by_id("settings-widgets").value = format_widgets(app.tawk_widgets or ())
        _by_id("settings-error").hidden = True
        _by_id("settings-dialog").showModal()

    def on_settings_submit(self, _event: Any) -> None:
        app = self.state.app
        if app is None:
            return
        error = _by_id("settings-error")
        try:
            changed = AppSettings(
                appid=app.appid,
                name=str(_by_id("settings-name").value).strip() or app.name,
                allowed_domains=parse_lines(str(_by_id("settings-domains").value)),
                offline_message=str(_by_id("settings-offline").value).strip(),
                business_hours=parse_hours(
                    str(_by_id("settings-timezone").value),
                    str(_by_id("settings-hours").value),
                    self.t,
                ),
                prechat_fields=parse_fields(str(_by_id("settings-fields").value), self.t),
                tawk_widgets=(
                    parse_widgets(
                        str(_by_id("settings-widgets").value), app.tawk_properties, self.t
                    )
                    if app.tawk_properties
                    else app.tawk_widgets
                ),
                tawk_properties=app.tawk_properties,
            )
        except ValueError as exc:
            error.textContent = str(exc)
            error.hidden = False
            return
        self.act(self.state.update_app, changed, uuid.uuid4().hex)
        _by_id("settings-dialog").close()

    # --- drawing --------------------------------------------------------------------------------

    def schedule_render(self) -> None:
        """Draw once per animation frame, however many frames arrived meanwhile."""
        if self.render_scheduled:
            return
        self.render_scheduled = True
        if hasattr(js, "requestAnimationFrame"):
            js.requestAnimationFrame(self.render_proxy)
        else:
            asyncio.get_event_loop().call_later(1 / 60, self.render)

    def render(self) -> None:
        """Send view.js what changed since the last frame, in one call (one round trip)."""
        self.render_scheduled = False
        started = js.performance.now()
        state = self.state
        patch: dict[str, Any] = {}
        connection = state.connection
        if self.changed("status", connection):
            patch["status"] = [connection.value, self.t(STATUS_KEYS[connection])]
        if state.agent_id is not None:
            self.render_topbar(patch)
            self.render_list(patch)
            self.render_conversation(patch)
            self.render_details(patch)
        announcements = state.announcements_to_make()
        if announcements:
            patch["announce"] = announcements[-1]
        if self.changed("error", state.last_error):
            patch["error"] = state.last_error or ""
        if "list" in patch:  # the worker's share of drawing the list, for measurements
            patch["list"]["worker_ms"] = round(js.performance.now() - started, 1)
        if patch:
            self.draw(json.dumps(patch))

    def render_status(self) -> None:
        """Draw the connection status now (outside a frame: login, logout)."""
        self.render()

    def show_console_error(self, error: str | None) -> None:
        self.state.last_error = error
        self.schedule_render()

    def changed(self, key: str, value: Any) -> bool:
        """Whether ``value`` differs from what was drawn under ``key`` (and remember it)."""
        if self.shown.get(key, _NOTHING) == value:
            return False
        self.shown[key] = value
        return True

    def render_topbar(self, patch: dict[str, Any]) -> None:
        state = self.state
        if self.changed("presence", state.presence):
            patch["presence"] = state.presence
        if self.changed("admin", state.role == "admin" and state.app is not None):
            patch["admin"] = self.shown["admin"]
        badges = {v: state.view_badge(v) for v in VIEWS}
        view = state.view if state.search_results is None else None
        if self.changed("badges", (badges, view)):
            labels = {v: self.t("badge_unread", n=count) for v, count in badges.items()}
            patch["views"] = {"badges": badges, "pressed": view, "labels": labels}

    def render_list(self, patch: dict[str, Any]) -> None:
        """The rows that changed (all of them only for new rows or a reset) and the order when
        it changed."""
        reset, dirty = self.state.take_dirty()
        summaries = self.state.visible()
        wanted = [s.id for s in summaries]
        rows = [
            [s.id, self._row_view(s)]
            for s in summaries
            if reset or s.id in dirty or s.id not in self.drawn_rows
        ]
        order_changed = wanted != self.item_order
        if rows or order_changed:
            patch["list"] = {"order": wanted if order_changed else None, "rows": rows}
            self.item_order = wanted
            self.drawn_rows = set(wanted)
        if self.changed("empty", (bool(wanted), bool(self.state.search_query))):
            found = self.t("list_none_found" if self.state.search_query else "list_none_here")
            patch["empty"] = "" if wanted else found

    def _row_view(self, summary: ConversationSummary) -> dict[str, Any]:
        t = self.t
        assignee = self.state.assignee(summary)
        flags = [
            t(key)
            for key, on in (
                ("flag_offline", summary.offline),
                ("flag_ended", summary.ended),
                ("flag_closed", summary.closed),
            )
            if on
        ]
        if summary.rating is not None:
            flags.append(t(f"flag_rated_{RATINGS[summary.rating]}"))
        unread = unread_count(summary)
        return {
            "name": visitor_label(summary, t),
            "last": message_words(summary.last_message, t) if summary.last_message else "",
            "unread": unread,
            "unreadLabel": t("row_unread", n=unread) if unread else "",
            "flags": " · ".join(flags),
            "current": summary.id == self.state.open_id,
            "assignee": self._agent_label(assignee) if assignee else t("view_unassigned"),
            "online": summary.visitor_online,
            "ended": summary.ended,
            "offline": summary.offline,
        }

    def _agent_label(self, agent: AgentInfo) -> str:
        return f"{agent.name} ({self.t('presence_' + agent.presence)})"

    def render_conversation(self, patch: dict[str, Any]) -> None:
        state, t = self.state, self.t
        summary = state.open_summary
        reset = state.open_id != self.shown_id or self.relabel
        if reset:
            self.shown_id, self.relabel = state.open_id, False
            self.drawn_seqs, self.drawn_pending, self.seen_up_to = set(), set(), 0
            patch["open"] = state.open_id or ""
        title = visitor_label(summary, t) if summary else t("no_conversation")
        if summary and summary.source_title:
            title += f" — {summary.source_title}"
        if summary and summary.ended:
            title = t("title_ended", title=title)
        if self.changed("title", title):
            patch["title"] = title
        self.render_actions(patch)
        typing = state.typing.get(state.open_id or "")
        if self.changed("typing", typing):
            patch["typing"] = t("typing", name=typing) if typing else ""
        add: list[dict[str, Any]] = []
        rating = summary.rating if summary else None
        visitor = visitor_label(summary, t) if summary else ""
        for message in state.open_messages():
            if message.seq not in self.drawn_seqs:
                add.append(_message_view(message, rating, visitor, t, self.locale))
                self.drawn_seqs.add(message.seq)
        for pending in state.open_pending():
            if pending.client_id not in self.drawn_pending:
                add.append(
                    {
                        "seq": None,
                        "client_id": pending.client_id,
                        "author": "agent",
                        "meta": t("sending"),
                        "pieces": split_links(pending.text or pending.file_name or ""),
                        "file": None,
                        "event": None,
                    }
                )
                self.drawn_pending.add(pending.client_id)
        seen_seq = state.visitor_read.get(state.open_id or "", 0)
        seen = [
            seq
            for seq, message in state.messages.items()
            if self.seen_up_to < seq <= seen_seq and message.author == "agent"
        ]
        self.seen_up_to = max(self.seen_up_to, seen_seq)
        if reset or add or seen:
            patch["messages"] = {
                "reset": reset,
                "add": add,
                "seen": sorted(seen),
                "seen_label": t("seen"),
            }

    def render_actions(self, patch: dict[str, Any]) -> None:
        state = self.state
        summary = state.open_summary
        mine = summary is not None and state.agent_id in summary.agent_ids
        live = state.can_reply()
        has_colleagues = bool(state.colleagues())
        enabled = {
            "reply-text": live,
            "reply-send": live,
            "reply-file": live,
            "revoke-visitor": summary is not None and not summary.closed,
            "end-chat": live,
            "join": live and not mine,
            "leave": live and mine,
            "transfer": live and has_colleagues,
            "transfer-to": live and has_colleagues,
            "back": summary is not None,
        }
        if self.changed("actions", enabled):
            patch["enabled"] = enabled
        colleagues = [[a.id, self._agent_label(a)] for a in state.colleagues()]
        if self.changed("colleagues", colleagues):
            patch["colleagues"] = colleagues

    def render_details(self, patch: dict[str, Any]) -> None:
        state = self.state
        details, summary = state.details, state.open_summary
        if self.changed("details", (id(details), summary.id if summary else None)):
            patch["details"] = _details_view(summary, details, self.t, self.locale)
        tags = summary.tags if summary else ()
        if self.changed("tags", tags):
            patch["tags"] = list(tags)


_NOTHING = object()


def _details_view(
    summary: ConversationSummary | None, details: VisitorDetails | None, t: Words, locale: str
) -> dict[str, Any]:
    if summary is None:
        return {"shown": False, "fields": [], "attributes": [], "events": [], "past": []}
    d = details or VisitorDetails(
        uid=summary.visitor_uid,
        name=summary.visitor_name,
        email=summary.visitor_email,
        referer=summary.referer,
        source_title=summary.source_title,
    )
    fields = [
        ("detail_name", d.name),
        ("detail_email_verified" if d.email_verified else "detail_email", d.email),
        ("detail_phone", d.phone),
        ("detail_page", d.referer),
        ("detail_page_title", d.source_title),
        ("detail_locale", d.locale),
    ]
    events = []
    for record in d.events:
        meta = ", ".join(f"{k}: {v}" for k, v in sorted(record.metadata.items()))
        events.append(
            f"{_time(record.created_at, locale)} {record.name}" + (f" ({meta})" if meta else "")
        )
    return {
        "shown": True,
        "fields": [
            [t(key), split_links(value) if key == "detail_page" else value, key == "detail_page"]
            for key, value in fields
            if value
        ],
        "attributes": [[k, str(v), False] for k, v in sorted(d.attributes.items())],
        "events": events,
        "past": [
            [
                old.id,
                f"{_date(old.updated_at, locale)} · "
                + (
                    message_words(old.last_message, t)
                    if old.last_message
                    else t("past_no_messages")
                ),
            ]
            for old in d.past_conversations
        ],
    }


def _message_view(
    message: ChatMessage, rating: int | None, visitor: str, t: Words, locale: str
) -> dict[str, Any]:
    """A message as view.js draws it; ``visitor`` is the conversation's visitor label (a
    nameless visitor's ``author_name`` is the server's English "Visitor")."""
    time = _time(message.created_at, locale)
    if message.author == "system":
        meta, text = time, system_text(message, t, rating)
    else:
        author = visitor if message.author == "visitor" else message.author_name
        meta, text = f"{author} · {time}", message.text
    if message.masked:
        # The visitor's browser masked it before sending: the agent knows why the dots are there
        # (a kind of ``ChatMessage.masked`` is worded by the key ``masked_<kind>``).
        what = ", ".join(t(f"masked_{kind}") for kind in message.masked)
        meta += " · " + t("masked", what=what)
    file = None
    if message.file is not None:
        ref = message.file
        file = {
            "href": _server_base() + ref.url if ref.url.startswith("/") else ref.url,
            "name": ref.name,
            "label": f"{ref.name} ({_size(ref.size)})",
            "image": ref.content_type in IMAGE_TYPES,
        }
    return {
        "seq": message.seq,
        "client_id": message.client_id,
        "author": message.author,
        "meta": meta,
        "pieces": split_links(text),
        "file": file,
        "event": message.event,
        "masked": list(message.masked),
    }


async def _json_body(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(str(await response.text()))
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


def _time(ms: int, locale: str) -> str:
    """A time of day as people of the console's language write it."""
    return str(
        js.Date.new(ms).toLocaleTimeString(locale, to_js({"hour": "2-digit", "minute": "2-digit"}))
    )


def _date(ms: int, locale: str) -> str:
    return str(js.Date.new(ms).toLocaleDateString(locale))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


app = ConsoleApp()
app.boot()
