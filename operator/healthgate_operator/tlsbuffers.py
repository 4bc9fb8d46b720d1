"""Smaller TLS read buffers: asyncio keeps 256 KiB per TLS connection, the operator many of them.

asyncio's SSL transport (``asyncio.sslproto.SSLProtocol``) allocates a zero-filled read buffer of
``max_size`` bytes, 256 KiB, for every TLS connection, and keeps it for the connection's life.
The operator holds tens of them: Kopf's pool to the API server (no limit, one per busy worker,
kept 15 s), its own pool, and the API server's connections to the webhook. At 1,000 gates that
was ~9 MiB of buffers that are mostly empty: a TLS record is at most 16 KiB, and a read takes
what the socket has. With 64 KiB a read still takes four records; a 500 KB pod LIST page takes
eight reads instead of two. asyncio has no setting for it, so the class attribute it reads is set.
"""

from __future__ import annotations

from asyncio import sslproto

READ_BUFFER = 64 * 1024  # bytes per TLS connection; asyncio's default is 256 KiB


def shrink() -> None:
    """Use :data:`READ_BUFFER` for every TLS connection made after this call."""
    sslproto.SSLProtocol.max_size = READ_BUFFER
