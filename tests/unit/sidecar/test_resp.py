"""The redis check's RESP2 exchange (checks/_resp.py), offline: URLs, commands, replies."""

from __future__ import annotations

import asyncio

import pytest

from healthgate_sidecar.checks import _resp


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://h", _resp.Address("h", 6379, False, None, None, 0)),
        ("redis://:pw@h:7000/2", _resp.Address("h", 7000, False, None, "pw", 2)),
        ("rediss://user:p%40ss@h/0", _resp.Address("h", 6379, True, "user", "p@ss", 0)),
        ("redis://h:1/?db=5", _resp.Address("h", 1, False, None, None, 5)),
        ("redis://[::1]:6380", _resp.Address("::1", 6380, False, None, None, 0)),
    ],
)
def test_urls_as_redis_py_reads_them(url: str, expected: _resp.Address) -> None:
    assert _resp.parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://h", "redis:// or rediss://"),
        ("redis://h/?socket_timeout=1", "unsupported URL option(s): socket_timeout"),
        ("redis://h/x", "must be a number"),
        ("redis://h:99999", "out of range"),
    ],
)
def test_urls_it_refuses(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        _resp.parse_url(url)


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert _resp.encode("SET", "k", b"v\r\n", 10) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n10\r\n"
    )


def replies(data: bytes, count: int) -> list[object]:
    async def read() -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [await _resp.read_reply(reader) for _ in range(count)]

    return asyncio.run(read())


def test_every_reply_kind() -> None:
    data = b"+OK\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR no\r\n"
    got = replies(data, 6)
    assert got[:5] == [b"OK", 42, b"he\r\nl", None, [b"a", 1]]
    assert isinstance(got[5], _resp.ReplyError)
    assert str(got[5]) == "ERR no"


def test_not_a_reply() -> None:
    with pytest.raises(_resp.ProtocolError):
        replies(b"HTTP/1.1 400 Bad Request\r\n", 1)
    with pytest.raises(_resp.ProtocolError):
        replies(b"$99999999\r\n", 1)
    with pytest.raises(asyncio.IncompleteReadError):
        replies(b"$5\r\nab", 1)  # the server went away mid-reply


def test_info_sections() -> None:
    reply = b"# Server\r\nredis_version:7.2.4\r\nuptime_in_seconds:12\r\n\r\nrole:master\r\n"
    assert _resp.info(reply) == {
        "redis_version": "7.2.4",
        "uptime_in_seconds": "12",
        "role": "master",
    }
