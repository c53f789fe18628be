"""E-mail over SMTP: one connection kept per worker thread, one transaction per message,
its envelope (MAIL, RCPT, DATA) in one round trip where the server offers PIPELINING.

What a failure means here:

* The connection, the TLS handshake (implicit TLS or STARTTLS, including a certificate
  that does not verify) or login fails, or the server hangs up or times out before
  the message was handed over: ``temporary`` with ``stop`` (server or configuration
  trouble; the rest of the batch is not tried now and uses no attempt).
* The message was handed over (the data and its final dot were sent) but no reply came
  within the timeout, or the connection dropped while waiting for it: ``unknown``. The
  server may have taken it (RFC 1047's duplicate-message problem), so the outbox sends
  it at most once more, with the same Message-ID.
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

Message-ID is derived from the outbox key (for a step's mail to several of a unit's
people, from the step's message, ``Outgoing.message_key``), so if a retry follows a
timeout after the server had in fact accepted the message, the copy carries the same
Message-ID and mail systems can tell it is a duplicate.

One message may go to several recipients (``Outgoing.also``): one RCPT each, in one
transaction; a recipient the server refuses gets its own verdict and the others the
message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.utils import format_datetime
from functools import lru_cache

from app.notify.base import BeforeEach, Clear, OnResult, Outgoing, Result, send_each

SENDER_NAME = "整改台账"
KEEP_OPEN_SECONDS = 20  # a session kept for the thread's next batch, if it comes this soon


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
        timeout: float = 30,
        implicit_tls: bool = False,
        ca_file: str | None = None,
    ) -> None:
        if implicit_tls and starttls:
            raise ValueError("choose implicit TLS (port 465) or STARTTLS (port 587), not both")
        self.host = host
        self.port = port
        self.sender = Address(SENDER_NAME, addr_spec=sender)  # a malformed sender fails here, at startup
        self._from_line = _address_line("From", SENDER_NAME, sender)
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.implicit_tls = implicit_tls
        self.ca_file = ca_file
        # Built once, so a missing or unreadable CA file fails at startup, not at the first reminder.
        self._tls = _tls_context(ca_file) if implicit_tls or starttls else None
        self._kept = threading.local()

    def send_batch(
        self,
        batch: Sequence[Outgoing],
        now: datetime,
        on_result: OnResult | None = None,
        before_each: BeforeEach | None = None,
    ) -> list[Result]:
        connection = self._take_kept() or _Connection(self)
        try:
            return send_each(batch, lambda msg, clear: connection.send(msg, now, clear), on_result, before_each)
        finally:
            self._keep(connection)

    def _take_kept(self) -> _Connection | None:
        """The session this thread's previous batch left open, if it is recent: a worker
        going through claim after claim keeps one connection instead of one per claim."""
        kept, self._kept.connection = getattr(self._kept, "connection", None), None
        if kept is not None and time.monotonic() - kept.last_used > KEEP_OPEN_SECONDS:
            kept.close()
            return None
        if kept is not None:
            kept.reused = True
        return kept

    def _keep(self, connection: _Connection) -> None:
        if connection.smtp is not None:
            connection.last_used = time.monotonic()
            self._kept.connection = connection

    def _compose(self, msg: Outgoing, now: datetime) -> bytes | Result:
        """The message as it goes on the wire (headers, base64 parts, dot-stuffed): what
        the email package would write, without its per-header parsing, which cost more
        than the SMTP exchange (addresses are still folded by its policy, once each)."""
        if not msg.to_email:
            return Result.permanent("no e-mail address")
        try:
            to = _to_line([(msg.to_name, msg.to_email), *((name, addr) for _, name, addr in msg.also)])
            subject = _unstructured_line("Subject", msg.subject)
            key = _folded("X-Rectify-Key", [_unstructured_line("X-Rectify-Key", k) for k in msg.keys])
        except (ValueError, MessageError) as err:
            return Result.permanent(f"cannot write the headers: {err}")
        message_id = self._message_id(msg.message_key or msg.key).encode()
        head = b"".join(
            (
                self._from_line,
                to,
                subject,
                key,
                b"Date: %s\r\nMessage-ID: %s\r\n" % (_date(now), message_id),
                b"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n",  # RFC 3834: no out-of-office replies
            )
        )
        if not msg.html:
            return _dot_stuffed(head + _text_part("plain", msg.text))
        boundary = b"=_" + secrets.token_hex(16).encode()  # "=_" never occurs in base64
        body = b"".join(
            (
                b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n' % boundary,
                b"--%s\r\n" % boundary,
                _text_part("plain", msg.text),
                b"\r\n--%s\r\n" % boundary,
                _text_part("html", msg.html),
                b"\r\n--%s--\r\n" % boundary,
            )
        )
        return _dot_stuffed(head + body)

    def _message_id(self, key: str) -> str:
        return f"<rectify.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{self.sender.domain}>"

    def connect(self) -> smtplib.SMTP | Result:
        """An open, greeted (and, as configured, encrypted and logged-in) session."""
        try:
            if self.implicit_tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as err:  # ssl.SSLError (a refused certificate) is an OSError
            return Result.temporary(f"cannot connect to {self.host}:{self.port}: {_describe(err)}", stop=True)
        try:
            if self.starttls:
                smtp.starttls(context=self._tls)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.ehlo_or_helo_if_needed()  # again after STARTTLS, which forgets the first greeting
        except (OSError, smtplib.SMTPException) as err:
            _close(smtp)
            return Result.temporary(f"session setup failed: {_describe(err)}", stop=True)
        return smtp


class _Connection:
    """One SMTP session, opened at the first message that needs it, reused for the rest."""

    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel
        self.smtp: smtplib.SMTP | None = None
        self.reused = False  # kept open from an earlier batch: the server may have closed it since
        self.last_used = 0.0

    def send(self, msg: Outgoing, now: datetime, clear: Clear) -> Result:
        composed = self.channel._compose(msg, now)
        if isinstance(composed, Result):
            return composed
        while True:
            if self.smtp is None:
                opened = self.channel.connect()
                if isinstance(opened, Result):
                    return opened
                self.smtp, self.reused = opened, False
            try:
                to = [msg.to_email or "", *(addr for _, _, addr in msg.also)]
                result = _transaction(self.smtp, self.channel.sender.addr_spec, to, composed, clear)
            except BaseException:  # the outbox could not be asked (its database is gone)
                self.drop()
                raise
            if result.status == "untried":  # held back mid-DATA: the session was dropped
                self.drop()
            elif result.stop:
                self.close()
            retry = self.reused and result.status == "temporary" and result.stop  # never handed over
            self.reused = False
            if not retry:
                return result

    def close(self) -> None:
        if self.smtp is not None:
            _close(self.smtp)
            self.smtp = None

    def drop(self) -> None:
        """Hang up without a word: mid-DATA, before the final dot, so the server discards the message."""
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None


def _transaction(smtp: smtplib.SMTP, sender: str, to: list[str], data: bytes, clear: Clear) -> Result:
    """MAIL, one RCPT per recipient, DATA for one message (``data`` as composed:
    dot-stuffed, ending in the final dot), telling apart a failure before the message was
    handed over (temporary) from silence after it (unknown). ``clear()`` is asked after
    the server's 354, just before the data goes: the outbox's in-flight commit runs
    meanwhile. If it holds the message back (``untried``), the caller drops the session
    before the final dot, so the server keeps nothing. A recipient the server refuses
    gets its own verdict (``Result.each``) and the message goes to the others."""
    international = not all(a.isascii() for a in (sender, *to))
    if international and not smtp.has_extn("smtputf8"):
        return _for_each(
            [Result.permanent(f"{a}: the server does not support SMTPUTF8 (non-ASCII addresses)") for a in to]
        )
    options = [f"size={len(data)}"] if smtp.has_extn("size") else []
    if international:
        options += ["SMTPUTF8", "BODY=8BITMIME"]
        smtp.command_encoding = "utf-8"  # what smtplib's mail() does for SMTPUTF8
    extra = "".join(" " + o for o in options)
    # MAIL and RCPT said directly: smtplib's mail() and rcpt() parse each address again
    # (email.utils.parseaddr), which cost more than the exchange itself; both addresses
    # were checked already (the sender at start-up, the recipient by _address_line)
    envelope = (f"MAIL FROM:<{sender}>{extra}", *(f"RCPT TO:<{a}>" for a in to), "DATA")
    try:
        replies = _envelope(smtp, envelope)
        refused = _refusals(replies, len(to))
        if all(r is not None for r in refused):
            if len(replies) == len(envelope) and replies[-1][0] == 354:  # asked for data it has nowhere to put
                smtp.send(".\r\n")
                smtp.getreply()
            _reset(smtp)
            return _for_each(refused)
        why = clear()
        if why is not None:
            return Result.untried(why)  # the caller hangs up before the final dot
        smtp.send(data)
    except (OSError, smtplib.SMTPException) as err:
        return Result.temporary(f"connection lost: {_describe(err)}", stop=True)
    try:
        code, reply = smtp.getreply()
    except (OSError, smtplib.SMTPException) as err:
        taken = Result.unknown(f"handed over, but no reply: {_describe(err)}")
    else:
        taken = Result.sent() if code == 250 else _by_code(code, reply, stop=code == 421)
        if code != 250:
            _reset(smtp)
    return _for_each([taken if r is None else r for r in refused], stop=taken.stop)


def _for_each(results: list[Result], stop: bool = False) -> Result:
    """One recipient's verdict as it is; several recipients' as one Result carrying each
    (its own status the first recipient's, ``stop`` if the session is in trouble)."""
    if len(results) == 1:
        return results[0]
    first = results[0]
    stop = stop or any(r.stop for r in results)
    return Result(first.status, first.detail, stop, first.retry_after, tuple(results))


def _envelope(smtp: smtplib.SMTP, commands: tuple[str, str, str]) -> list[tuple[int, bytes]]:
    """MAIL, RCPT and DATA, and the server's replies to them. A server that offers
    PIPELINING (RFC 2920: Postfix, Exim, Exchange and the public mail services do) gets
    the three in one write and its three replies are read in order: one round trip
    instead of three. Otherwise each waits for its reply; a refused sender ends the
    exchange, and so do recipients all refused (no DATA). Reading stops at a 421: the
    server is closing the connection."""
    replies: list[tuple[int, bytes]] = []
    if smtp.has_extn("pipelining"):
        smtp.send("".join(c + "\r\n" for c in commands))
        while len(replies) < len(commands) and (not replies or replies[-1][0] != 421):
            replies.append(smtp.getreply())
        return replies
    for command in commands:
        if command == "DATA" and all(code not in (250, 251) for code, _ in replies[1:]):
            break  # every recipient refused: nothing to send
        replies.append(smtp.docmd(command))
        if replies[-1][0] == 421 or (len(replies) == 1 and replies[0][0] != 250):
            break
    return replies


def _refusals(replies: list[tuple[int, bytes]], recipients: int) -> list[Result | None]:
    """What the envelope's replies mean for each recipient: None for one the server took
    (and whose data it asked for), else its verdict. A refused sender is our
    configuration (temporary, the batch stops) unless the message is too big (552); a
    refused recipient is that recipient's answer; a refused DATA, or a 421 anywhere (the
    server is closing), is everyone's."""
    (code, reply), rcpts, data = replies[0], replies[1 : 1 + recipients], replies[1 + recipients :]
    if code != 250:
        by_code = _by_code(code, reply)
        everyone = by_code if code == 552 else Result.temporary(f"sender refused: {by_code.detail}", stop=True)
        return [everyone] * recipients
    closing = next(((c, r) for c, r in (*rcpts, *data) if c == 421), None)
    if closing is not None or len(rcpts) < recipients:
        c, r = closing or (421, b"the server stopped answering the envelope")
        return [_by_code(c, r, stop=True)] * recipients
    each = [None if c in (250, 251) else _by_code(c, r) for c, r in rcpts]
    if data and data[0][0] != 354:
        refused = _by_code(*data[0])
        return [refused if e is None else e for e in each]
    return each


def _to_line(recipients: list[tuple[str, str]]) -> bytes:
    """``To: 张三 <a@b.cn>``, or several such addresses, a line each."""
    return _folded("To", [_address_line("To", name, addr) for name, addr in recipients], b",")


def _folded(field: str, lines: list[bytes], separator: bytes = b"") -> bytes:
    """One header from the values of several lines of it (each ``field: value\r\n``, as
    written for the field alone): the values in order, each on a folded line of its own.
    The X-Rectify-Key of a mail to several recipients carries each one's outbox key,
    which traces a bounce or a complaint to its row."""
    values = [line[len(field) + 2 : -2] for line in lines]
    return b"%s: %s\r\n" % (field.encode("ascii"), (separator + b"\r\n ").join(values))


@lru_cache(maxsize=4096)
def _address_line(field: str, name: str, addr_spec: str) -> bytes:
    """``To: 张三 <a@b.cn>``; a malformed address is a ValueError. A Chinese name is
    written as RFC 2047 encoded words, as the Subject is: the email package's folder took
    about 0.3 ms for a name of a dozen characters (43 % of the cProfile of a sweep's mail
    to 2,667 people; now about 0.03 ms), and its parse of the address, only to check it,
    was 40 % of composing a mail to people seen once, so an address of plain dot-atoms
    (nearly every address) is checked by a pattern and only the rest by the email
    package. A name in ASCII (quoting rules) and an address beyond ASCII (SMTPUTF8,
    written as it is) keep the email package's policy. Cached: recipients repeat."""
    if addr_spec.isascii() and not name.isascii():
        if not _DOT_ATOM_ADDRESS.fullmatch(addr_spec):
            _address(name, addr_spec)  # a quoted local part, a domain literal, or malformed: ValueError
        words = _encoded_words(field, name)
        tail = b" <%s>\r\n" % addr_spec.encode("ascii")
        last = 1 + len(words[-1]) if len(words) > 1 else len(field) + 2 + len(words[0])
        fold = b"\r\n" if last + len(tail) - 2 > 78 else b""  # the address on a line of its own
        return b"%s: %s%s%s" % (field.encode("ascii"), b"\r\n ".join(words), fold, tail)
    pol = policy.SMTP if addr_spec.isascii() else policy.SMTPUTF8  # SMTPUTF8: the address as it is
    return pol.header_factory(field, str(_address(name, addr_spec))).fold(policy=pol).encode()


def _address(name: str, addr_spec: str) -> Address:
    """The email package's Address, checked by its parser; a malformed address is a
    ValueError (the parser fails with HeaderParseError on some, and IndexError on ``a@``)."""
    try:
        return Address(name, addr_spec=addr_spec)
    except (IndexError, MessageError) as err:
        raise ValueError(f"malformed address {addr_spec!r}: {err}") from None


# RFC 5322 3.4.1 addr-spec with a dot-atom on each side of the "@" (3.2.3: atext)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


def _unstructured_line(field: str, value: str) -> bytes:
    """``Subject: …`` as it is when it is printable ASCII, else as RFC 2047 encoded words
    (:func:`_encoded_words`, which refuses a line break)."""
    if value.isascii() and value.isprintable() and len(field) + len(value) <= 990:  # RFC 5322: at most 998
        return f"{field}: {value}\r\n".encode("ascii")
    return b"%s: %s\r\n" % (field.encode("ascii"), b"\r\n ".join(_encoded_words(field, value)))


def _encoded_words(field: str, value: str) -> list[bytes]:
    """``value`` as RFC 2047 encoded words (UTF-8 in base64), each on a line within 76
    characters (the first after ``field: ``), never splitting a character; a line break
    in the value is refused (it would start a header of its own)."""
    if "\r" in value or "\n" in value:
        raise ValueError("header values may not contain linefeed or carriage return characters")
    # bytes a word may carry: its base64 (4 characters per 3 bytes) and =?utf-8?b??= (12)
    # within 76 characters, after "Subject: " on the first line and a space on the others
    room, rest = (76 - len(field) - 2 - 12) // 4 * 3, (76 - 1 - 12) // 4 * 3
    data, words, start = value.encode(), [], 0
    while start < len(data):  # the longest run of whole characters that fits (by bytes, not char by char)
        end = start + room
        while end < len(data) and end > start and data[end] & 0xC0 == 0x80:  # inside a character: back off
            end -= 1
        if end == start:  # a character longer than the room (never with these fields)
            end = start + room + 1
            while end < len(data) and data[end] & 0xC0 == 0x80:
                end += 1
        words.append(b"=?utf-8?b?%s?=" % base64.b64encode(data[start:end]))
        start, room = end, rest
    return words


def _text_part(subtype: str, text: str) -> bytes:
    """A text part's headers and body: UTF-8 in base64 (which survives relays without
    8BITMIME), lines ending as the email package stores them."""
    raw = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    flat = binascii.b2a_base64(raw, newline=False)  # at once, then cut: what base64.encodebytes writes
    encoded = b"".join(flat[i : i + 76] + b"\r\n" for i in range(0, len(flat), 76))
    return b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s' % (
        subtype.encode(),
        encoded,
    )


def _dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2: a line starting with a dot gets another; then CRLF.CRLF. (The
    search for one is a byte scan; the substitution, only when there is one: base64 and
    the headers as written here never start a line with a dot.)"""
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


_LEADING_DOT = re.compile(rb"(?m)^\.")


@lru_cache(maxsize=16)
def _date(now: datetime) -> bytes:
    """The Date header's value; a batch's mails share their ``now``, so it is written once."""
    return format_datetime(now).encode()


def _reset(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate and host name checked; with ``ca_file`` only that CA bundle is trusted."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"cannot load the SMTP CA file {ca_file!r}: {err}") from None


def _by_code(code: int, reply: bytes | str, stop: bool = False) -> Result:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    detail = f"{code} {text}"
    return Result.permanent(detail) if 500 <= code < 600 else Result.temporary(detail, stop=stop)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a server that is already gone must not turn a batch into a crash."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
