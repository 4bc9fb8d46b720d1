"""The few Redis commands the redis check sends, over RESP2 on an asyncio stream.

Why not redis-py: its import costs 6.4 MiB of RSS in every pod that checks a Redis (measured
with ``bench.sidecar_memory``: a sidecar with one redis dependency 46.3 MiB, with none 39.4;
redis-py 8.1). No narrower import avoids it: ``import redis.exceptions`` or
``redis.asyncio.connection`` runs the package's ``__init__``, which loads the sync and asyncio
clients, cluster, sentinel and every command mixin. The check needs five commands (AUTH,
CLIENT SETNAME, SELECT, INFO, and SET/GET/DEL for ``writeCheck``), sent pipelined as redis-py's
non-transactional pipeline sends them, and RESP2's five reply kinds: this is that and no more.
The tests run it against a real redis-server (plain, TLS, ACL passwords, stopped, frozen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    import asyncio
    import ssl

DEFAULT_PORT = 6379
MAX_BULK = 1 << 20  # bytes: an INFO section is a few KiB; more is not a Redis we understand
Reply = bytes | int | list["Reply"] | None


class ReplyError(Exception):
    """An error reply (``-WRONGPASS ...``); its text is the server's."""


class ProtocolError(Exception):
    """Bytes that are not a RESP2 reply."""


@dataclass(frozen=True)
class Address:
    """Where and as whom to connect, from a ``redis://`` or ``rediss://`` URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    db: int


def parse_url(url: str) -> Address:
    """Parse the URL forms redis-py's ``from_url`` takes for TCP; raises ``ValueError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("the URL must start with redis:// or rediss://")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise ValueError(f"unsupported URL option(s): {', '.join(unknown)} (only db)")
    path = parts.path.strip("/")
    db = query["db"][0] if "db" in query else (path or "0")
    if not db.isdigit():
        raise ValueError("the database (URL path or ?db=) must be a number")
    return Address(
        host=parts.hostname or "localhost",
        port=parts.port or DEFAULT_PORT,  # a bad port raises ValueError
        tls=parts.scheme == "rediss",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        db=int(db),
    )


def encode(*args: str | bytes | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Reply | ReplyError:
    """One reply; an error reply is returned (not raised) to keep a pipeline's replies in step."""
    line = (await reader.readuntil(b"\r\n"))[:-2]
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest
    if kind == b"-":
        return ReplyError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size > MAX_BULK:
            raise ProtocolError(f"a reply of {size} bytes")
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        count = int(rest)
        items = [await read_reply(reader) for _ in range(max(count, 0))]
        return None if count < 0 else [_raise(item) for item in items]
    raise ProtocolError(f"unexpected reply type {kind!r}")


def _raise(reply: Reply | ReplyError) -> Reply:
    if isinstance(reply, ReplyError):
        raise reply
    return reply


class Connection:
    """One connection; :meth:`call` sends commands together and reads all their replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: Address, *, tls: ssl.SSLContext | None, name: str) -> Connection:
        import asyncio  # not at import: the config's validator loads the redis type's module

        reader, writer = await asyncio.open_connection(
            address.host, address.port, ssl=tls, server_hostname=address.host if tls else None
        )
        conn = cls(reader, writer)
        try:
            hello: list[tuple[str | int, ...]] = []
            if address.password is not None:
                user = (address.username,) if address.username else ()
                hello.append(("AUTH", *user, address.password))
            hello.append(("CLIENT", "SETNAME", name))  # shown in CLIENT LIST for whoever looks
            if address.db:
                hello.append(("SELECT", address.db))
            await conn.call(*hello)
        except BaseException:
            conn.close()
            raise
        return conn

    async def call(self, *commands: tuple[str | bytes | int, ...]) -> list[Reply]:
        """The replies of ``commands``, sent in one write; raises the first error reply."""
        self.writer.write(b"".join(encode(*command) for command in commands))
        await self.writer.drain()
        replies = [await read_reply(self.reader) for _ in commands]
        return [_raise(reply) for reply in replies]

    def usable(self) -> bool:
        """False once the server has closed it (between checks: restarted, idle timeout)."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        # abort, not close: a frozen server must not hold the check's cleanup (TLS goodbye).
        self.writer.transport.abort()


def info(reply: Reply) -> dict[str, str]:
    """An INFO section's ``key:value`` lines."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key] = value
    return fields
