"""Secrets out of every line the worker writes: the configured secret values, and credentials
that travel inside URLs and headers (userinfo, a Slack webhook's path, `access_token=`,
`Bearer …`), whoever logs them — our code, httpx, urllib3 or any other library.

One process-wide `REDACTOR` learns the values when settings load (and tokens the CRM issues
at login); the log configuration and the CLI's printed sentences pass their text through it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "***"

# credentials with a recognisable shape, in any text: each keeps its label, loses its value
SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<=://)[^/\s@\"']+@"), MASK + "@"),  # user:password@host
    (re.compile(r"(/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"), r"\1" + MASK),
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "xox" + MASK),  # Slack tokens
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=!-]+"), r"\1" + MASK),
    (
        re.compile(
            r"(?i)([?&;](?:access_token|refresh_token|id_token|token|api_key|apikey|key|"
            r"client_secret|secret|password|passwd|sig|signature|hapikey)=)[^&\s#\"']+"
        ),
        r"\1" + MASK,
    ),
)


class Redactor:
    """Replaces known secret values and credential shapes with `***`; thread-safe to teach."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def learn(self, values: Iterable[str]) -> None:
        """Remember `values` (empty ones are ignored) for every later line."""
        with self._lock:
            fresh = {value for value in values if value} - self._secrets
            if not fresh:
                return
            self._secrets |= fresh
            longest_first = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in longest_first))

    def forget_all(self) -> None:
        """For tests that need a redactor that has learned nothing."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        for shape, replacement in SHAPES:
            text = shape.sub(replacement, text)
        return text


REDACTOR = Redactor()
