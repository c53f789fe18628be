"""E-mail over SMTP: one connection per batch, one transaction per message.

What a failure means here:

* The connection, the TLS handshake (implicit TLS or STARTTLS, including a certificate
  that does not verify) or login fails, or the server hangs up or times out midway:
  every message not yet accepted is ``temporary`` (server or configuration trouble; the
  messages themselves are fine and go out once it is fixed).
* The server answers a message with a code: 4xx is ``temporary``, 5xx is ``permanent``
  for that message only (no such mailbox, content refused), and the batch goes on.
  A refused *sender* is our configuration, so it stays temporary unless it is 552
  (the message is too big, which no retry changes).
* No address, or one that cannot be written into a header: ``permanent`` before any
  connection is made.

TLS is either implicit (``implicit_tls=True``: the connection is TLS from the first byte, port
465, what the big public mail services expect) or STARTTLS on a plain connection
(``starttls=True``, port 587). Either way the server's certificate and name are checked
against the system's trusted CAs, or only against ``ca_file`` when one is given (a
private CA, or a self-signed certificate the operator chose to trust).

Message-ID is derived from the outbox key, so if a retry follows a timeout after the
server had in fact accepted the message, the copy carries the same Message-ID and mail
systems can tell it is a duplicate.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from app.notify.base import OnResult, Outgoing, Result, Verdicts

SENDER_NAME = "整改台账"


class SmtpChannel:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10,
        implicit_tls: bool = False,
        ca_file: str | None = None,
    ) -> None:
        if implicit_tls and starttls:
            raise ValueError("choose implicit TLS (port 465) or STARTTLS (port 587), not both")
        self.host = host
        self.port = port
        self.sender = Address(SENDER_NAME, addr_spec=sender)  # a malformed sender fails here, at startup
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.implicit_tls = implicit_tls
        self.ca_file = ca_file
        # Built once, so a missing or unreadable CA file fails at startup, not at the first reminder.
        self._tls = _tls_context(ca_file) if implicit_tls or starttls else None

    def send_batch(self, batch: Sequence[Outgoing], now: datetime, on_result: OnResult | None = None) -> list[Result]:
        results = Verdicts(on_result)
        ready: list[tuple[int, EmailMessage]] = []
        for i, msg in enumerate(batch):
            composed = self._compose(msg, now)
            if isinstance(composed, Result):
                results[i] = composed
            else:
                ready.append((i, composed))
        if ready:
            self._deliver(ready, results)
        return results.in_order(len(batch))

    def _compose(self, msg: Outgoing, now: datetime) -> EmailMessage | Result:
        if not msg.to_email:
            return Result.permanent("no e-mail address")
        email = EmailMessage()
        try:
            email["From"] = self.sender
            email["To"] = Address(msg.to_name, addr_spec=msg.to_email)
            email["Subject"] = msg.subject
            email["X-Rectify-Key"] = msg.key  # lets a bounce or a complaint be traced to its outbox row
        except (ValueError, MessageError) as err:
            return Result.permanent(f"cannot write the headers: {err}")
        email["Date"] = format_datetime(now)
        email["Message-ID"] = self._message_id(msg.key)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a robot
        email.set_content(msg.text, cte="base64")  # base64 survives relays without 8BITMIME
        if msg.html:
            email.add_alternative(msg.html, subtype="html", cte="base64")
        return email

    def _message_id(self, key: str) -> str:
        return f"<rectify.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{self.sender.domain}>"

    def _deliver(self, ready: list[tuple[int, EmailMessage]], results: Verdicts) -> None:
        def give_up_from(n: int, why: str) -> None:
            for i, _ in ready[n:]:
                results[i] = Result.temporary(why)

        try:
            if self.implicit_tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as err:  # ssl.SSLError (a refused certificate) is an OSError
            give_up_from(0, f"cannot connect to {self.host}:{self.port}: {_describe(err)}")
            return
        try:
            try:
                if self.starttls:
                    smtp.starttls(context=self._tls)
                if self.username:
                    smtp.login(self.username, self.password or "")
            except (OSError, smtplib.SMTPException) as err:
                give_up_from(0, f"session setup failed: {_describe(err)}")
                return
            for n, (i, email) in enumerate(ready):
                try:
                    smtp.send_message(email)
                    results[i] = Result.sent()
                except smtplib.SMTPRecipientsRefused as err:
                    code, reply = next(iter(err.recipients.values()))
                    results[i] = _by_code(code, reply)
                except smtplib.SMTPSenderRefused as err:
                    by_code = _by_code(err.smtp_code, err.smtp_error)
                    results[i] = (
                        by_code if err.smtp_code == 552 else Result.temporary(f"sender refused: {by_code.detail}")
                    )
                except smtplib.SMTPResponseException as err:
                    results[i] = _by_code(err.smtp_code, err.smtp_error)
                except smtplib.SMTPNotSupportedError as err:  # e.g. a non-ASCII mailbox without SMTPUTF8
                    results[i] = Result.permanent(str(err))
                except (OSError, smtplib.SMTPException) as err:
                    give_up_from(n, f"connection lost: {_describe(err)}")
                    return
        finally:
            _close(smtp)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate and host name checked; with ``ca_file`` only that CA bundle is trusted."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"cannot load the SMTP CA file {ca_file!r}: {err}") from None


def _by_code(code: int, reply: bytes | str) -> Result:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    detail = f"{code} {text}"
    return Result.permanent(detail) if 500 <= code < 600 else Result.temporary(detail)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a server that is already gone must not turn a batch into a crash."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
