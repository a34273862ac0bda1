"""PhantomJS for Selenium 4, which dropped it and speaks only W3C WebDriver.

PhantomJS embeds GhostDriver, a server of the older JSON Wire Protocol. Three
of Selenium's extension points bridge the two:

* :class:`PhantomJSService` starts ``phantomjs --webdriver=127.0.0.1:PORT``
  with its log and storage inside the run's private directory;
* :class:`PhantomJSConnection` rewrites the W3C commands whose path or
  payload differ in JSON Wire (scripts, timeouts, window rect, active
  element, cookies, element rect and property), converts element
  references both ways (``{"ELEMENT": id}`` vs. the W3C key) and turns
  GhostDriver's error bodies into plain messages;
* :class:`PhantomJSDriver` opens the session with ``desiredCapabilities``.

Commands GhostDriver cannot serve (W3C actions, alerts, shadow DOM ...) raise
:class:`~selenium.common.exceptions.WebDriverException` instead of being sent.
"""
from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.common.service import Service
from selenium.webdriver.common.webdriver import LocalWebDriver
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.command import Command
from selenium.webdriver.remote.remote_connection import RemoteConnection

from .services import PrivateService
from ..secrets import child_environment

logger = logging.getLogger(__name__)

W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
WIRE_ELEMENT = "ELEMENT"

#: W3C commands GhostDriver serves at the same method, path and payload.
SAME_AS_W3C = frozenset({
    Command.QUIT, Command.GET, Command.GET_CURRENT_URL, Command.GET_TITLE, Command.GET_PAGE_SOURCE,
    Command.GO_BACK, Command.GO_FORWARD, Command.REFRESH, Command.SCREENSHOT,
    Command.FIND_ELEMENT, Command.FIND_ELEMENTS, Command.FIND_CHILD_ELEMENT, Command.FIND_CHILD_ELEMENTS,
    Command.CLICK_ELEMENT, Command.CLEAR_ELEMENT, Command.GET_ELEMENT_TEXT, Command.SEND_KEYS_TO_ELEMENT,
    Command.GET_ELEMENT_TAG_NAME, Command.IS_ELEMENT_SELECTED, Command.IS_ELEMENT_ENABLED,
    Command.GET_ELEMENT_ATTRIBUTE, Command.GET_ELEMENT_VALUE_OF_CSS_PROPERTY,
    Command.GET_ALL_COOKIES, Command.DELETE_ALL_COOKIES, Command.DELETE_COOKIE,
    Command.SWITCH_TO_FRAME, Command.SWITCH_TO_PARENT_FRAME, Command.CLOSE,
})

#: W3C commands served elsewhere in JSON Wire: command -> (method, path).
RENAMED = {
    Command.NEW_SESSION: ("POST", "/session"),
    Command.W3C_EXECUTE_SCRIPT: ("POST", "/session/$sessionId/execute"),
    Command.W3C_EXECUTE_SCRIPT_ASYNC: ("POST", "/session/$sessionId/execute_async"),
    Command.W3C_GET_ACTIVE_ELEMENT: ("POST", "/session/$sessionId/element/active"),
    Command.W3C_GET_CURRENT_WINDOW_HANDLE: ("GET", "/session/$sessionId/window_handle"),
    Command.W3C_GET_WINDOW_HANDLES: ("GET", "/session/$sessionId/window_handles"),
    Command.SWITCH_TO_WINDOW: ("POST", "/session/$sessionId/window"),
}

#: W3C timeout names -> GhostDriver's endpoint and payload (the W3C script timeout covers sync and async scripts).
TIMEOUT_REQUESTS = {
    "implicit": (("/session/$sessionId/timeouts", {"type": "implicit"}),),
    "pageLoad": (("/session/$sessionId/timeouts", {"type": "page load"}),),
    "script": (("/session/$sessionId/timeouts", {"type": "script"}),
               ("/session/$sessionId/timeouts/async_script", {})),
}

#: Legacy JSON Wire status of errors the bridge itself reports.
_UNKNOWN_COMMAND = 9


def to_wire(value: Any) -> Any:
    """W3C element references -> JSON Wire ones, recursively."""
    if isinstance(value, dict):
        if W3C_ELEMENT in value and len(value) == 1:
            return {WIRE_ELEMENT: value[W3C_ELEMENT]}
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    return value


def to_w3c(value: Any) -> Any:
    """JSON Wire element references -> W3C ones, recursively."""
    if isinstance(value, dict):
        if WIRE_ELEMENT in value and len(value) == 1:
            return {W3C_ELEMENT: value[WIRE_ELEMENT]}
        return {key: to_w3c(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_w3c(item) for item in value]
    return value


def _w3c_cookie(cookie: Any) -> Any:
    """PhantomJS's cookie dict in W3C spelling (``httpOnly``, integer ``expiry``)."""
    if not isinstance(cookie, dict):
        return cookie
    result = {key: value for key, value in cookie.items() if key not in ("httponly", "expires")}
    if "httponly" in cookie:
        result["httpOnly"] = bool(cookie["httponly"])
    if isinstance(result.get("expiry"), (int, float)):
        result["expiry"] = int(result["expiry"])
    return result


def _error_message(body: Any) -> str:
    """GhostDriver's error text without the request it echoes (whose body may hold typed secrets)."""
    message = body.get("message") if isinstance(body, dict) else body
    if not isinstance(message, str):
        return "PhantomJS reported an error"
    try:
        inner = json.loads(message)
    except ValueError:
        inner = None
    if isinstance(inner, dict):
        inner_message = inner.get("errorMessage")
        message = inner_message if isinstance(inner_message, str) else "PhantomJS reported an error"
    # "Missing Command Parameter - {request as JSON}" and the like
    cut = message.find(" - {")
    if cut >= 0:
        message = message[:cut]
    if "{" in message:
        message = message[:message.index("{")].rstrip(" -:")
    return message[:300] or "PhantomJS reported an error"


class PhantomJSConnection(RemoteConnection):
    """Sends Selenium 4's W3C commands to GhostDriver in JSON Wire form."""

    def execute(self, command: str, params: dict) -> dict:
        params = dict(params or {})
        atom = self._element_atom(command, params)
        if atom is not None:
            response = atom
        elif command in SAME_AS_W3C:
            response = self._send(*self._route(command), to_wire(params))
        elif command in RENAMED:
            response = self._send(*RENAMED[command], to_wire(params))
        elif command == Command.SET_TIMEOUTS:
            response = self._set_timeouts(params)
        elif command == Command.ADD_COOKIE:
            response = self._add_cookie(params)
        elif command == Command.GET_COOKIE:
            response = self._get_cookie(params)
        elif command == Command.SET_WINDOW_RECT:
            response = self._set_window_rect(params)
        elif command == Command.GET_WINDOW_RECT:
            response = self._window_rect(params)
        elif command == Command.GET_ELEMENT_RECT:
            response = self._element_rect(params)
        elif command == Command.GET_ELEMENT_PROPERTY:
            element = {WIRE_ELEMENT: params["id"]}
            response = self._send("POST", "/session/$sessionId/execute",
                                  {"sessionId": params.get("sessionId"), "script": "return arguments[0][arguments[1]];",
                                   "args": [element, params["name"]]})
        else:
            return {"status": _UNKNOWN_COMMAND,
                    "value": {"message": f"PhantomJS (GhostDriver) does not support the {command!r} command"}}
        if command == Command.GET_ALL_COOKIES and isinstance(response.get("value"), list):
            response["value"] = [_w3c_cookie(cookie) for cookie in response["value"]]
        return response

    def _element_atom(self, command: str, params: dict) -> Optional[dict]:
        """Selenium 4 runs isDisplayed/getAttribute as ES2015 scripts PhantomJS cannot parse;
        JSON Wire has an endpoint for each."""
        if command != Command.W3C_EXECUTE_SCRIPT:
            return None
        script, args = params.get("script") or "", params.get("args") or []
        if not args or not isinstance(args[0], dict) or W3C_ELEMENT not in args[0]:
            return None
        request = {"sessionId": params.get("sessionId"), "id": args[0][W3C_ELEMENT]}
        if script.startswith("/* isDisplayed */") and len(args) == 1:
            return self._send("GET", "/session/$sessionId/element/$id/displayed", request)
        if script.startswith("/* getAttribute */") and len(args) == 2 and isinstance(args[1], str):
            return self._send("GET", "/session/$sessionId/element/$id/attribute/$name", {**request, "name": args[1]})
        return None

    def _route(self, command: str) -> tuple[str, str]:
        method, path = self._commands[command]
        return method, path

    def _send(self, method: str, path: str, params: dict) -> dict:
        """One JSON Wire request; ``$name`` path parts are filled from (and removed from) ``params``."""
        params = dict(params)
        for part in path.split("/"):
            if part.startswith("$"):
                value = params.pop(part[1:], None)
                if value is None:
                    raise WebDriverException(f"missing {part[1:]} for {method} {path}")
                path = path.replace(part, urllib.parse.quote(str(value), safe=""))
        body = json.dumps(params) if method in ("POST", "PUT") else None
        url = f"{self._client_config.remote_server_addr}{path}"
        logger.debug("%s %s", method, path)
        response = self._request(method, url, body=body)
        return self._clean(response)

    @staticmethod
    def _clean(response: dict) -> dict:
        status = response.get("status")
        value = response.get("value")
        if status and isinstance(value, str):
            # An HTTP error: the base class kept GhostDriver's JSON body as text.
            try:
                body = json.loads(value)
            except ValueError:
                return {"status": status, "value": {"message": _error_message(value)}}
            if isinstance(body, dict):
                status = body.get("status") or status
                value = body.get("value")
        if status:
            return {"status": status, "value": {"message": _error_message(value)}}
        response["value"] = to_w3c(value)
        return response

    def _set_timeouts(self, params: dict) -> dict:
        session = {"sessionId": params.get("sessionId")}
        response: dict = {"status": 0, "value": None}
        for key, requests in TIMEOUT_REQUESTS.items():
            if params.get(key) is None:
                continue
            for path, payload in requests:
                response = self._send("POST", path, {**session, **payload, "ms": int(params[key])})
                if response.get("status"):
                    return response
        return response

    def _add_cookie(self, params: dict) -> dict:
        """W3C lets the domain default to the page's host; PhantomJS needs it spelled out."""
        cookie = dict(params.get("cookie") or {})
        cookie.pop("sameSite", None)
        if not cookie.get("domain"):
            current = self._send("GET", "/session/$sessionId/url", {"sessionId": params.get("sessionId")})
            if current.get("status"):
                return current
            cookie["domain"] = urllib.parse.urlsplit(current.get("value") or "").hostname or ""
        return self._send("POST", "/session/$sessionId/cookie", {"sessionId": params.get("sessionId"), "cookie": cookie})

    def _get_cookie(self, params: dict) -> dict:
        response = self._send("GET", "/session/$sessionId/cookie", {"sessionId": params.get("sessionId")})
        if response.get("status"):
            return response
        found = [c for c in response.get("value") or [] if isinstance(c, dict) and c.get("name") == params["name"]]
        return {"status": 0, "value": _w3c_cookie(found[0]) if found else None}

    def _set_window_rect(self, params: dict) -> dict:
        session = {"sessionId": params.get("sessionId")}
        if params.get("width") is not None and params.get("height") is not None:
            response = self._send("POST", "/session/$sessionId/window/current/size",
                                  {**session, "width": params["width"], "height": params["height"]})
            if response.get("status"):
                return response
        if params.get("x") is not None and params.get("y") is not None:
            response = self._send("POST", "/session/$sessionId/window/current/position",
                                  {**session, "x": params["x"], "y": params["y"]})
            if response.get("status"):
                return response
        return self._window_rect(params)

    def _window_rect(self, params: dict) -> dict:
        return self._rect(params, "/session/$sessionId/window/current")

    def _element_rect(self, params: dict) -> dict:
        return self._rect(params, "/session/$sessionId/element/$id", element=params["id"])

    def _rect(self, params: dict, base: str, element: Optional[str] = None) -> dict:
        rect: dict = {}
        for part, keys in (("/position" if element is None else "/location", ("x", "y")), ("/size", ("width", "height"))):
            request = {"sessionId": params.get("sessionId")}
            if element is not None:
                request["id"] = element
            response = self._send("GET", base + part, request)
            if response.get("status"):
                return response
            value = response.get("value") or {}
            rect.update({key: value.get(key, 0) for key in keys})
        return {"status": 0, "value": rect}


class PhantomJSService(PrivateService, Service):
    """Runs ``phantomjs`` as a GhostDriver server on 127.0.0.1; log and storage in ``profile_dir``."""

    def __init__(self, executable_path: str, profile_dir: str, port: int = 0, env: Optional[dict] = None,
                 log_output: Any = None):
        self.profile_dir = profile_dir
        # Never a secret in PhantomJS's environment, whatever the caller passed.
        env = child_environment(os.environ if env is None else env)
        # Qt keeps local storage, caches and settings under the XDG directories: keep them private.
        for key, sub in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
            env[key] = os.path.join(profile_dir, sub)
        super().__init__(executable_path=executable_path, port=port, env=env, log_output=log_output)
        self.path = executable_path

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command_line_args(self) -> list:
        join = os.path.join
        return [
            f"--webdriver=127.0.0.1:{self.port}",
            f"--webdriver-logfile={join(self.profile_dir, 'ghostdriver.log')}",
            "--webdriver-loglevel=WARN",
            f"--local-storage-path={join(self.profile_dir, 'localstorage')}",
            f"--offline-storage-path={join(self.profile_dir, 'offline')}",
            f"--cookies-file={join(self.profile_dir, 'cookies.txt')}",
            "--disk-cache=false",
            "--ssl-protocol=tlsv1.2",
        ]

    def is_connectable(self) -> bool:
        """GhostDriver's /status answers 200 without W3C's ``ready`` flag."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.service_url}/status", timeout=1) as response:
                return response.getcode() == 200
        except (OSError, urllib.error.URLError):
            return False


class PhantomJSOptions(ArgOptions):
    """Capabilities of a GhostDriver session."""

    @property
    def default_capabilities(self) -> dict:
        return {"browserName": "phantomjs", "javascriptEnabled": True, "acceptSslCerts": False}

    def to_capabilities(self) -> dict:
        caps = dict(self._caps)
        caps.setdefault("browserName", "phantomjs")
        return caps


class PhantomJSDriver(LocalWebDriver):
    """A Selenium 4 WebDriver for PhantomJS/GhostDriver (JSON Wire Protocol)."""

    def __init__(self, service: PhantomJSService, options: PhantomJSOptions, timeout: float = 120.0):
        self.service = service
        self.service.start()
        # A new connection per command: on a kept-alive one each answer took about 45 ms (GhostDriver
        # writes it in two parts, and the second waits for the ACK this side delays), 10-15 ms here.
        executor = PhantomJSConnection(
            client_config=ClientConfig(remote_server_addr=service.service_url, keep_alive=False,
                                       timeout=int(timeout)),
            ignore_proxy=True)
        try:
            super().__init__(command_executor=executor, options=options)
        except Exception:
            self.quit()
            raise

    def start_session(self, capabilities: dict) -> None:
        """Open a JSON Wire session: ``desiredCapabilities`` in, ``sessionId`` at the top level out."""
        response = self.execute(Command.NEW_SESSION, {"desiredCapabilities": dict(capabilities)})
        self.session_id = response.get("sessionId") or (response.get("value") or {}).get("sessionId")
        if not self.session_id:
            raise WebDriverException("PhantomJS did not open a session")
        self.caps = response.get("value") or {}


def start_phantomjs(service: PhantomJSService, user_agent: str, accept_language: str = "en-US,en;q=0.9") -> Any:
    """Start PhantomJS through ``service`` with a desktop user agent instead of its own."""
    options = PhantomJSOptions()
    options.set_capability("phantomjs.page.settings.userAgent", user_agent)
    options.set_capability("phantomjs.page.customHeaders.Accept-Language", accept_language)
    return PhantomJSDriver(service, options)
