"""The To line of a mail, as a mail program reads it back (and the data's dot-stuffing):
the name and the address as they were given, every line within 78 characters, nothing
but ASCII on the wire. A long Chinese name takes several encoded words; RFC 2047 (6.2) joins adjacent ones without
the space between them, as email.header does (the email package's address parser puts
a space there, so the name is checked through email.header)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.headerregistry import Address

import pytest

from app.notify.smtp import _address_line, _dot_stuffed

NAMES = [
    "张三",
    "卢氏县住房和城乡建设局经办人",
    "三门峡市城乡一体化示范区住房和城乡建设局第一责任人（局长）王某某",
    "李四, 王五",  # a comma inside a name is not a second address
    '赵六 "老赵" <zhao@evil.cn>',  # nor are quotes and angle brackets
    "Zhou 周",
    "𠀀𠀁 四字节字符" * 4,  # characters beyond the BMP, four bytes each, never split
    "Wang Wu",
    'Chen, "Jr."',
    "",
]
ADDRESSES = [
    "lushi_handler@example.cn",
    "a@b.cn",
    "very.long.local.part.of.an.address.that.goes.on@sub.domain.example.gov.cn",
]


@pytest.mark.parametrize("addr", ADDRESSES)
@pytest.mark.parametrize("name", NAMES)
def test_the_to_line_reads_back_as_the_name_and_address_given(name, addr):
    line = _address_line.__wrapped__("To", name, addr)
    assert line.isascii() and line.endswith(b"\r\n")
    assert all(len(part) <= 78 for part in line[:-2].split(b"\r\n")), line
    to = message_from_bytes(line + b"\r\n", policy=policy.default)["To"]
    assert len(to.addresses) == 1 and to.addresses[0].addr_spec == addr, (line, to.addresses)
    if b"=?" not in line:
        assert to.addresses[0].display_name == name
        return
    value = line[len("To: ") : -2].replace(b"\r\n ", b" ").decode("ascii")
    words, angled = value.rsplit(" <", 1)
    assert angled == addr + ">"
    assert str(make_header(decode_header(words))) == name


def test_a_name_with_a_line_break_or_a_malformed_address_is_refused():
    with pytest.raises(ValueError):
        _address_line.__wrapped__("To", "张三\r\nBcc: x@evil.cn", "a@b.cn")
    with pytest.raises(ValueError):
        _address_line.__wrapped__("To", "张三", "not an address")


@pytest.mark.parametrize(
    "addr",
    [
        "a@b.cn",
        "o'neil+tag@sub.example.gov.cn",
        "a.b-c_d@x-y.cn",
        '"a b"@example.cn',  # a quoted local part: the email package's to judge
        "a@[192.0.2.1]",  # a domain literal: likewise
        "a..b@c.cn",
        ".a@c.cn",
        "a.@c.cn",
        "a@c.cn.",
        "a@@c.cn",
        "a b@c.cn",
        "a@c,cn",
        "@c.cn",
        "a@",
        "a",
        "a@c.cn>\r\nBcc: x@evil.cn",
    ],
)
def test_an_address_is_taken_exactly_when_the_email_package_takes_it(addr):
    """Most addresses are checked by a pattern instead of the email package's parser: it
    must never let through one the parser refuses, nor refuse one it takes."""
    try:
        Address("", addr_spec=addr)
    except (ValueError, IndexError, MessageError):  # how the parser refuses varies: refused all the same
        with pytest.raises(ValueError):
            _address_line.__wrapped__("To", "张三", addr)
        return
    line = _address_line.__wrapped__("To", "张三", addr)
    assert message_from_bytes(line + b"\r\n", policy=policy.default)["To"].addresses[0].addr_spec == addr


def test_a_line_starting_with_a_dot_is_stuffed_and_the_data_ends_in_the_final_dot():
    """RFC 5321 4.5.2: the server would take a lone dot for the end of the data. What
    this module composes never starts a line with one (base64, headers), so the check
    is a scan; a line that does still gets its second dot."""
    assert _dot_stuffed(b"a\r\n.\r\n..b\r\n") == b"a\r\n..\r\n...b\r\n.\r\n"
    assert _dot_stuffed(b".x") == b"..x\r\n.\r\n"
    assert _dot_stuffed(b"Subject: a.b\r\n\r\nQUJD\r\n") == b"Subject: a.b\r\n\r\nQUJD\r\n.\r\n"
