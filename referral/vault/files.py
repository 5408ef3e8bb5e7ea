"""Files sealed in chunks (AES-256-GCM), and the in-memory-keyed spool an upload is parsed into.

A sealed file is `MAGIC ‖ record…`, each record `nonce (12) ‖ ciphertext of one chunk ‖ tag (16)`. Every
chunk holds CHUNK bytes of plaintext but the last, which holds what remains (possibly nothing). Each
chunk's associated data names the file, the chunk's index, the file key's version and whether it is the
last chunk, so that reordering chunks, dropping the tail (truncation) or splicing chunks of another file
all fail to authenticate. A file has its own random key (`new_file_key`), which the caller seals under
the case key; erasing the case key therefore shreds the file.

`SpoolFile` is where the web server writes an upload while it parses the request: the bytes reach the
temporary file only encrypted under a key that lives in memory for that request alone.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionFailed
from .keys import KEY_BYTES, NONCE_BYTES

CHUNK = 64 * 1024
TAG_BYTES = 16
RECORD = NONCE_BYTES + CHUNK + TAG_BYTES
MAGIC = b"RFA\x01"

Reader = Callable[[int], bytes]


def new_file_key() -> bytes:
    return os.urandom(KEY_BYTES)


def read_full(read: Reader, size: int) -> bytes:
    """Exactly `size` bytes from `read`, fewer only at the end of the stream."""
    first = read(size)
    if len(first) == size or not first:
        return first
    parts = [first]
    got = len(first)
    while got < size:
        more = read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class FileCipher:
    """Seals and opens one file's chunks with that file's key."""

    def __init__(self, file_id: uuid.UUID, key_version: int, key: bytes):
        self.file_id, self.key_version = file_id, key_version
        self._aead = AESGCM(key)
        self._prefix = f"attachment|v1|{file_id}|".encode()

    def _associated(self, index: int, final: bool) -> bytes:
        """file id | chunk index | file key version | last chunk or not"""
        return self._prefix + f"{index}|{self.key_version}|{int(final)}".encode()

    def seal_chunk(self, index: int, plain: bytes, final: bool) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, self._associated(index, final))

    def open_chunk(self, index: int, record: bytes, final: bool) -> bytes:
        try:
            view = memoryview(record)
            return self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], self._associated(index, final))
        except (InvalidTag, ValueError):
            raise DecryptionFailed(f"chunk {index} of a file did not authenticate") from None

    def seal(self, read: Reader) -> Iterator[bytes]:
        """The sealed file, record by record, from a plaintext stream read CHUNK bytes at a time."""
        yield MAGIC
        index, current = 0, read_full(read, CHUNK)
        while True:
            following = read_full(read, CHUNK) if len(current) == CHUNK else b""
            final = not following
            yield self.seal_chunk(index, current, final)
            if final:
                return
            index, current = index + 1, following

    def open(self, read: Reader) -> Iterator[bytes]:
        """The plaintext, chunk by chunk, of a sealed file read from `read`; DecryptionFailed on any change."""
        if read_full(read, len(MAGIC)) != MAGIC:
            raise DecryptionFailed("not a sealed file")
        index, current = 0, read_full(read, RECORD)
        while True:
            following = read_full(read, RECORD) if len(current) == RECORD else b""
            yield self.open_chunk(index, current, final=not following)
            if not following:
                return
            index, current = index + 1, following

    def __repr__(self) -> str:
        return f"FileCipher(file={self.file_id}, version={self.key_version})"


def sealed_size(plain_size: int) -> int:
    """How many bytes the sealed form of a file of `plain_size` bytes takes."""
    chunks = max(1, -(-plain_size // CHUNK))
    return len(MAGIC) + plain_size + chunks * (NONCE_BYTES + TAG_BYTES)


class SpoolFile:
    """A write-then-read temporary file whose bytes on disk are AES-256-CTR under a key held only here.

    Werkzeug's form parser writes an upload into it, seeks back to the start and reads it; the service
    then reads it chunk by chunk. Only sequential access is supported: `seek(0)` restarts reading from
    the beginning (a keystream reset), `seek(0, 2)` / `tell` report the size. Confidentiality only: the
    file lives for one request and is unlinked at once (`tempfile.TemporaryFile`).
    """

    def __init__(self, directory: str | None = None):
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (closed by close())
        self._key, self._nonce = os.urandom(KEY_BYTES), os.urandom(16)
        self._encryptor = Cipher(algorithms.AES(self._key), modes.CTR(self._nonce)).encryptor()
        self._decryptor: object | None = None
        self._size = 0
        self._position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._file.write(self._encryptor.update(bytes(data)))
        self._size += len(data)
        self._position = self._size
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2 and offset == 0:
            self._position = self._size
            return self._size
        if (whence, offset) != (0, 0):
            raise OSError("an encrypted spool is read from its start only")
        self._file.flush()
        self._file.seek(0)
        self._decryptor = Cipher(algorithms.AES(self._key), modes.CTR(self._nonce)).decryptor()
        self._position = 0
        return 0

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        if self._decryptor is None:
            self.seek(0)
        raw = self._file.read(size if size is not None and size >= 0 else self._size)
        self._position += len(raw)
        return self._decryptor.update(raw)  # type: ignore[attr-defined,no-any-return]

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.closed = True

    def __enter__(self) -> SpoolFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SpoolFile(size={self._size})"
