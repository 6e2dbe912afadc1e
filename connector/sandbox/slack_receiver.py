"""A stand-in for Slack over one channel: an incoming webhook (`/services/…`) and the Web API
a bot uses (`/api/chat.postMessage`, `/api/conversations.history`, a bearer token). Keeps
what was posted, checks Slack's limits, and can refuse or drop requests, for the demo and
the tests."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from connector.sandbox.server import DropConnection
from connector.sandbox.slack_channel import Answer, SlackChannel, block_problem, refusal

WEBHOOK = "webhook"  # the endpoint name of the incoming webhook in `calls` and faults
WEBHOOK_BOT_ID = "B0DEMOHOOK"
BOT_TOKEN = "xoxb-demo-not-for-production"  # noqa: S105 — the sandbox's own credential
CHANNEL_ID = "C0DEMOCS01"
FORM_JSON = ("blocks", "metadata")  # form fields that carry JSON, as Slack reads them


@dataclass(frozen=True)
class SlackCall:
    endpoint: str  # WEBHOOK or the Web API method
    args: dict[str, Any]  # what was asked, without the token
    status: int  # the HTTP status answered; 0 when the answer was dropped
    error: str | None  # Slack's error code, when it refused
    at: float  # time.monotonic() when it was answered


@dataclass(frozen=True)
class _Fault:
    endpoint: str | None  # None: whatever comes next
    status: int | None  # None: drop the connection instead of answering
    retry_after: float
    carried_out: bool = True  # dropped after carrying the request out, or before


class SlackReceiver:
    """WSGI app. `posts` is every accepted post (webhook payloads and bot messages),
    `channel` what the channel holds, `calls` every request answered. With `outbox`, each
    accepted post is also written there as JSON for people to read."""

    def __init__(
        self,
        outbox: Path | None = None,
        channel: SlackChannel | None = None,
        token: str = BOT_TOKEN,
    ) -> None:
        self.posts: list[dict[str, Any]] = []
        self.channel = channel or SlackChannel(CHANNEL_ID)
        self.calls: list[SlackCall] = []
        self._outbox = outbox
        self._token = token
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def fail_next(
        self, status: int, times: int = 1, *, endpoint: str | None = None, retry_after: float = 0
    ) -> None:
        """Refuse the next `times` requests (to `endpoint` only, if given) with `status`."""
        with self._lock:
            self._faults += [_Fault(endpoint, status, retry_after)] * times

    def drop_next(self, *, endpoint: str | None = None, carried_out: bool = True) -> None:
        """Lose the next request's answer: the client cannot know whether it was carried out
        (by default it was; `carried_out=False`: the connection broke before)."""
        with self._lock:
            self._faults.append(_Fault(endpoint, None, 0, carried_out))

    def calls_to(self, endpoint: str) -> list[SlackCall]:
        return [call for call in self.calls if call.endpoint == endpoint]

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path.startswith("/services/"):
            endpoint = WEBHOOK
        elif path.startswith("/api/"):
            endpoint = path.removeprefix("/api/")
        else:
            return Response("not found", 404)(environ, start_response)
        with self._lock:
            response, drop = self._answer(endpoint, request)
        if drop:
            raise DropConnection("the answer is lost on the way back")
        return response(environ, start_response)

    def _answer(self, endpoint: str, request: Request) -> tuple[Response, bool]:
        fault = self._take_fault(endpoint)
        if fault is not None and fault.status is not None:  # refused: nothing carried out
            self._log(endpoint, {}, fault.status, None)
            return _fault_response(endpoint, fault), False
        if fault is not None and not fault.carried_out:
            self._log(endpoint, {}, 0, None)
            return Response(), True
        if endpoint == WEBHOOK:
            status, body = self._webhook(request)
            self._log(endpoint, {}, 0 if fault else status, None if status == 200 else body)
            return Response(body, status), fault is not None
        args = _web_api_args(request)
        answer = self._web_api(endpoint, request, args)
        shown = {k: v for k, v in args.items() if k != "token"}
        self._log(endpoint, shown, 0 if fault else 200, answer.get("error"))
        return Response(json.dumps(answer), 200, mimetype="application/json"), fault is not None

    def _take_fault(self, endpoint: str) -> _Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.endpoint in (None, endpoint):
                return self._faults.pop(index)
        return None

    def _log(self, endpoint: str, args: dict[str, Any], status: int, error: str | None) -> None:
        self.calls.append(SlackCall(endpoint, args, status, error, time.monotonic()))

    def _webhook(self, request: Request) -> tuple[int, str]:
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return 400, "invalid_payload"
        if not isinstance(payload, dict) or not payload.get("text"):
            return 400, "no_text"
        problem = block_problem(payload)
        if problem:
            return 400, f"{problem[0]}: {problem[1]}"
        stored = {"subtype": "bot_message", "bot_id": WEBHOOK_BOT_ID, "text": payload["text"]}
        if payload.get("blocks"):
            stored["blocks"] = payload["blocks"]
        self.channel.add(stored)  # in the channel, without metadata: a webhook cannot add any
        self._accept(payload)
        return 200, "ok"

    def _web_api(self, method: str, request: Request, args: dict[str, Any]) -> Answer:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header else args.get("token")
        if not token:
            return refusal("not_authed")
        if token != self._token:
            return refusal("invalid_auth")
        if method == "chat.postMessage":
            answer = self.channel.post(args)
            if answer["ok"]:
                self._accept(self.channel.messages[-1])
            return answer
        if method == "conversations.history":
            return self.channel.history(args)
        return refusal("unknown_method")

    def _accept(self, post: dict[str, Any]) -> None:
        self.posts.append(post)
        if self._outbox is not None:
            self._outbox.mkdir(parents=True, exist_ok=True)
            path = self._outbox / f"{len(self.channel.messages):03d}.json"
            path.write_text(json.dumps(post, indent=2, ensure_ascii=False))


def _web_api_args(request: Request) -> dict[str, Any]:
    """A method's arguments as Slack reads them: a JSON body, or form fields and the query
    string (where blocks and metadata are JSON text)."""
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    args: dict[str, Any] = {**request.args.to_dict(), **request.form.to_dict()}
    for name in FORM_JSON:
        if isinstance(args.get(name), str):
            with contextlib.suppress(ValueError):  # else left as text, refused as Slack does
                args[name] = json.loads(args[name])
    return args


def _fault_response(endpoint: str, fault: _Fault) -> Response:
    status = fault.status or 500
    headers = {"Retry-After": f"{fault.retry_after:g}"} if status == 429 else {}
    if endpoint == WEBHOOK:
        return Response(
            "rate_limited" if status == 429 else "server_error", status, headers=headers
        )
    if status == 429:
        return Response(
            json.dumps(refusal("ratelimited")), 429, headers=headers, mimetype="application/json"
        )
    return Response("<html><body>Service Unavailable</body></html>", status, mimetype="text/html")
