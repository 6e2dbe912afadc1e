"""Sending email over SMTP: STARTTLS or implicit TLS (verified), auth from settings.

Messages are built with the standard library's `EmailMessage`, whose header handling refuses
line breaks in header values, so a contact or subject cannot inject headers.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from types import TracebackType

from connector.errors import DeliveryFailed, SmtpUnavailable
from connector.messages.email import Email
from connector.settings import Settings


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
    """One connection for a run's emails; a context manager that connects and logs in."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        self._settings = settings
        self._host = settings.smtp_host
        self._connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
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
        self._connection = connection
        return self

    def send(self, email: Email) -> None:
        """Raises `DeliveryFailed` when the server refuses this message."""
        assert self._connection is not None
        message = build_message(email, sender_address=self._settings.email_sender_address)
        try:
            self._connection.send_message(
                message, from_addr=self._settings.smtp_envelope_from or None
            )
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(str(exc) or type(exc).__name__) from None

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
