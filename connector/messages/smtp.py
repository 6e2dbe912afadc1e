"""Sending email over SMTP: STARTTLS or implicit TLS (verified), auth from settings.

Messages are built with the standard library's `EmailMessage`, whose header handling refuses
line breaks in header values, so a contact or subject cannot inject headers.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from types import TracebackType
from typing import Any

from connector.errors import DeliveryFailed, MessageRefused, OutcomeUnknown, SmtpUnavailable
from connector.messages.email import Email
from connector.settings import Settings
from connector.transport import Action, Resolution, RetryPolicy


def build_message(email: Email, *, sender_address: str | None = None) -> EmailMessage:
    """From the owner (or, for relays that only send as the company, from `sender_address`
    in the owner's name with Reply-To the owner)."""
    message = EmailMessage()
    message["From"] = formataddr((email.from_name, sender_address or email.from_email))
    if sender_address:
        message["Reply-To"] = formataddr((email.from_name, email.from_email))
    message["To"] = formataddr((email.to_name, email.to_email))
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=email.from_email.rpartition("@")[2])
    message["X-CS-Connector-Key"] = email.key  # traces the email to its rule and account
    message.set_content(email.text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    return message


class SmtpSender:
    """One connection for a run's emails; a context manager that connects and logs in.

    A send tells a refusal (the server answered no: not sent) from a lost transaction (the
    connection broke after the message content started: it may have arrived). A connection
    lost before the content started is reopened and the email tried again on it.
    """

    def __init__(self, settings: Settings, policy: RetryPolicy | None = None) -> None:
        self._settings = settings
        self._host = settings.required("smtp_host")
        self._connection: smtplib.SMTP | None = None
        self._content_started = False
        self._policy = policy or RetryPolicy()

    def __enter__(self) -> SmtpSender:
        self._connection = self._connect()
        return self

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        context = settings.ssl_context()
        connection: smtplib.SMTP | None = None
        try:
            if settings.smtp_security == "ssl":
                connection = smtplib.SMTP_SSL(
                    self._host,
                    settings.smtp_port,
                    timeout=settings.http_timeout_seconds,
                    context=context,
                )
            else:
                connection = smtplib.SMTP(
                    self._host, settings.smtp_port, timeout=settings.http_timeout_seconds
                )
                if settings.smtp_security == "starttls":
                    connection.starttls(context=context)
            if settings.smtp_username and settings.smtp_password:
                connection.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        except (OSError, smtplib.SMTPException) as exc:
            if connection is not None:
                connection.close()
            raise SmtpUnavailable(
                f"cannot send through {self._host}:{settings.smtp_port} "
                f"({type(exc).__name__}); no email was sent."
            ) from None
        send_content = connection.data

        def data(content: Any) -> tuple[int, bytes]:
            self._content_started = True  # from here on the message may arrive
            return send_content(content)

        connection.data = data  # type: ignore[method-assign,assignment]
        return connection

    def send(self, email: Email) -> None:
        """Raises `DeliveryFailed` when the server refuses this message (or cannot be
        reached), `OutcomeUnknown` when the connection broke while the message was going."""
        message = build_message(email, sender_address=self._settings.email_sender_address)

        def transaction() -> None:
            assert self._connection is not None
            self._content_started = False
            self._connection.send_message(
                message, from_addr=self._settings.smtp_envelope_from or None
            )

        self._policy.call(
            transaction,
            lambda exc: classify(exc, content_started=self._content_started),
            reauthenticate=self._reconnect,
        )

    def _reconnect(self) -> None:
        """A connection lost before the message content: open a new one to try again on."""
        if self._connection is not None:
            self._connection.close()
        self._connection = self._connect()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (OSError, smtplib.SMTPException):
                self._connection.close()


def classify(exc: Exception, *, content_started: bool) -> Resolution | None:
    """The server's answer to one message. An answer is to be believed: 4xx is "try again
    later", 5xx "never". No answer after the content started means it may have arrived;
    before, nothing was sent and a new connection may try again."""
    if isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        code, reason = _refusal(exc)
        if 400 <= code < 500:  # "try again later": within the run, then on the next
            return Resolution(Action.RETRY, DeliveryFailed(reason))
        return Resolution(Action.FAIL_RECORDS, MessageRefused(reason))
    if isinstance(exc, smtplib.SMTPException | OSError):
        if content_started:
            return Resolution(
                Action.FAIL_RECORDS,
                OutcomeUnknown(
                    f"the connection to the mail server broke while the message was being "
                    f"sent ({type(exc).__name__}); it may have arrived"
                ),
            )
        lost = DeliveryFailed(f"the connection to the mail server broke ({type(exc).__name__})")
        return Resolution(Action.REAUTHENTICATE, lost)
    return None


def _refusal(
    exc: smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused,
) -> tuple[int, str]:
    """The server's answer, as the CSM will read it on the Task."""
    answer = (
        next(iter(exc.recipients.values()))
        if isinstance(exc, smtplib.SMTPRecipientsRefused)
        else (exc.smtp_code, exc.smtp_error)
    )
    code, text = answer
    detail = text.decode(errors="replace") if isinstance(text, bytes) else text
    return code, f"the mail server refused it: {code} {detail}"
