"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: the demo's outbox
and the tests' mailbox. It can refuse a recipient, refuse the next transactions (a relay
that is busy or down for a while), lose its answer to a message it took, hang up before a
message, or call back on arrival."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connector.sandbox.server import TlsFiles

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter


class SmtpSink:
    """`with SmtpSink(outbox) as sink:` — `sink.port`, `sink.messages` (parsed)."""

    def __init__(
        self,
        outbox: Path | None = None,
        *,
        tls: TlsFiles | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        """With `tls`, STARTTLS is required; with `credentials`, AUTH (over TLS) too."""
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO)
        self.refused_recipients: set[str] = set()
        self._drops = 0  # messages to take and then hang up on, before answering
        self._hang_ups = 0  # transactions to hang up on at MAIL FROM, before any content
        self.refusals: list[str] = []  # replies for the next transactions' recipients
        self.on_message: Callable[[EmailMessage], None] | None = None
        self._outbox = outbox
        self.port = _free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            options.update(tls_context=tls.server_context(), require_starttls=True)
        if credentials is not None:
            options.update(auth_required=True, authenticator=_Authenticator(*credentials))
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    def drop_after_data(self, times: int = 1) -> None:
        """Keep the next messages but break the connection instead of answering 250: the
        sender cannot know they arrived."""
        self._drops += times

    def hang_up_at_mail(self, times: int = 1) -> None:
        """Break the connection when the next transactions start: nothing was sent."""
        self._hang_ups += times

    def refuse_next(
        self, times: int = 1, reply: str = "451 4.3.0 Mail server temporarily unavailable"
    ) -> None:
        """Answer the next `times` recipients with `reply` (a 4xx: try again later);
        `refusals.clear()` ends it early."""
        self.refusals += [reply] * times

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._controller.stop()

    async def handle_MAIL(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self._hang_ups:
            self._hang_ups -= 1
            server.transport.abort()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 — aiosmtpd's hook name
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        options: list[str],
    ) -> str:
        if address in self.refused_recipients:
            return "550 5.1.1 Recipient address rejected: mailbox unavailable"
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self._outbox is not None:
            self._outbox.mkdir(parents=True, exist_ok=True)
            (self._outbox / f"{len(self.messages):03d}.eml").write_bytes(envelope.content)
        if self.on_message is not None:
            self.on_message(message)
        if self._drops:
            self._drops -= 1
            server.transport.abort()  # the 250 below is never written
        return "250 Message accepted for delivery"


class _Authenticator:
    """Accepts one username and password."""

    def __init__(self, username: str, password: str) -> None:
        self._expected = (username.encode(), password.encode())

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        given = (
            (auth_data.login, auth_data.password) if isinstance(auth_data, LoginPassword) else None
        )
        if given == self._expected:
            return AuthResult(success=True)
        # an explicit message: without one, aiosmtpd 1.4 leaves a failed AUTH unanswered
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Authentication credentials invalid"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
