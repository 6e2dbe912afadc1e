"""A stand-in for a Slack incoming webhook: keeps what was posted, checks Slack's limits,
and can refuse or drop posts, for the demo and the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from connector.sandbox.server import DropConnection

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000


class SlackReceiver:
    """WSGI app. `posts` is every accepted payload; `fail_next` and `drop_next` inject faults.
    With `outbox`, each accepted post is also written there as JSON for people to read."""

    def __init__(self, outbox: Path | None = None) -> None:
        self.posts: list[dict[str, Any]] = []
        self._outbox = outbox
        self._lock = threading.Lock()
        self._faults: list[int | None] = []  # a status to answer, or None to drop

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults += [status] * times

    def drop_next(self) -> None:
        """Accept the next post, then lose the answer: the client cannot know it arrived."""
        with self._lock:
            self._faults.append(None)

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            fault = self._faults.pop(0) if self._faults else 0
        if fault:  # an HTTP refusal: nothing accepted
            headers = {"Retry-After": "0"} if fault == 429 else {}
            return Response(
                "rate_limited" if fault == 429 else "server_error", fault, headers=headers
            )(environ, start_response)
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return Response("invalid_payload", 400)(environ, start_response)
        problem = _check(payload)
        if problem:
            return Response(problem, 400)(environ, start_response)
        self._accept(payload)
        if fault is None:
            raise DropConnection("the answer is lost on the way back")
        return Response("ok", 200)(environ, start_response)

    def _accept(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.posts.append(payload)
            if self._outbox is not None:
                self._outbox.mkdir(parents=True, exist_ok=True)
                path = self._outbox / f"{len(self.posts):03d}.json"
                path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))


def _check(payload: Any) -> str | None:
    """Slack's own refusals for what the digest must never send."""
    if not isinstance(payload, dict) or not payload.get("text"):
        return "no_text"
    blocks = payload.get("blocks", [])
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks: more than 50 blocks"
    for block in blocks:
        if block.get("type") == "section" and len(block["text"]["text"]) > MAX_SECTION_CHARS:
            return "invalid_blocks: section text over 3000 characters"
    return None
