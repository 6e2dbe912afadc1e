"""SMTP as relays run it: STARTTLS with a verified certificate, then AUTH."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from connector.errors import DeliveryFailed
from connector.messages.email import Email, _one_line
from connector.messages.smtp import SmtpSender, SmtpUnavailable, build_message
from connector.sandbox.server import make_tls
from connector.sandbox.smtp_sink import SmtpSink
from connector.settings import Settings

EMAIL = Email(
    key="renewal-90-days:001A:abc",
    rule_id="renewal-90-days",
    account_id="001A",
    account_name="Acme",
    sender_id="005A",
    from_name="Aiko Tanaka",
    from_email="aiko@vendor.example",
    to_name="Haruto Sato",
    to_email="haruto@acme.example",
    to_contact_id="003A",
    locale="ja",
    subject="【ご契約更新のご案内】",
    text="佐藤 様\n本文",
    html="<p>本文</p>",
)


def _settings(port: int, ca: Path, password: str) -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="starttls",
        smtp_username="relay-user",
        smtp_password=SecretStr(password),
        ca_bundle=ca,
        smtp_envelope_from="bounces@vendor.example",
    )


def test_starttls_and_auth_deliver_the_message(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with (
        SmtpSink(tls=tls, credentials=("relay-user", "s3cret")) as sink,
        SmtpSender(_settings(sink.port, tls.ca_bundle, "s3cret")) as smtp,
    ):
        smtp.send(EMAIL)
    (message,) = sink.messages
    assert sink.envelopes == [("bounces@vendor.example", ["haruto@acme.example"])]
    assert message["From"] == "Aiko Tanaka <aiko@vendor.example>"
    assert message["Subject"] == "【ご契約更新のご案内】"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().splitlines() == ["佐藤 様", "本文"]


def test_the_sink_can_refuse_the_next_transactions_for_a_while(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with (
        SmtpSink(tls=tls, credentials=("relay-user", "s3cret")) as sink,
        SmtpSender(_settings(sink.port, tls.ca_bundle, "s3cret")) as smtp,
    ):
        sink.refuse_next(times=4)  # every try the retry policy makes
        with pytest.raises(DeliveryFailed, match="451") as raised:
            smtp.send(EMAIL)
        assert raised.value.transient  # "later": the next run sends it
        assert sink.messages == []
        sink.refuse_next(times=2)  # a relay busy for a moment: tried again within the send
        smtp.send(EMAIL)
    assert len(sink.messages) == 1


def test_wrong_password_is_reported_and_nothing_is_sent(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with SmtpSink(tls=tls, credentials=("relay-user", "s3cret")) as sink:
        with pytest.raises(SmtpUnavailable, match="no email was sent") as raised:
            SmtpSender(_settings(sink.port, tls.ca_bundle, "wrong")).__enter__()
        assert "wrong" not in str(raised.value)
        assert sink.messages == []


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    other_ca = make_tls(tmp_path / "other").ca_bundle
    with SmtpSink(tls=tls) as sink, pytest.raises(SmtpUnavailable):
        SmtpSender(_settings(sink.port, other_ca, "s3cret")).__enter__()


def test_headers_cannot_be_injected_through_names_or_subjects() -> None:

    hostile = EMAIL.__class__(
        **{
            **EMAIL.__dict__,
            "to_name": _one_line("Haruto\r\nBcc: attacker@evil.example"),
            "subject": _one_line("Renewal\nBcc: attacker@evil.example"),
        }
    )
    message = build_message(hostile, sender_address="cs@vendor.example")
    assert message["Bcc"] is None
    assert message["Reply-To"] == "Aiko Tanaka <aiko@vendor.example>"
    assert message["From"] == "Aiko Tanaka <cs@vendor.example>"
    with pytest.raises(ValueError, match=r"linefeed|carriage return"):
        build_message(replace(EMAIL, subject="a\nBcc: x@evil.example"))
