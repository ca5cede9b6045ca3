"""The compact changelog form of a rider's state (version 4): integers packed, byte planes, zlib, base85.

Version 2 wrote JSON lists, about 8.9 KB a rider. Every integer of the state (ring keys as
deltas, bucket rows, pending trip records, trackers) goes into one ``array('q')``; its bytes
are regrouped by byte plane (all lowest bytes, then the next ...), so the mostly-zero high
bytes of small numbers sit together and zlib folds them away. Floats are 8 raw bytes each
(NaN for None), the dedup slots 2 bytes each. Strings and the stream clocks stay readable beside it.
The compressed bytes are text in base85 (5 characters per 4 bytes; none of them needs escaping
in JSON). Version 3 (4-byte dedup slots, base64: 4 characters per 3 bytes) is still read.

>>> ints = Ints()
>>> ints.put(3); ints.opt(None); ints.put(-7)
>>> back = IntReader(unshuffle(shuffle(ints.data.tobytes())))
>>> back.get(), back.opt(), back.get()
(3, None, -7)
"""

from __future__ import annotations

import base64
import math
import zlib
from array import array
from collections.abc import Callable

NONE = -(2**63)  # an integer that is None (no real value reaches it)
_HEADER = array("I", [0, 0, 0])  # byte lengths of: int planes, floats, dedup slots


def shuffle(raw: bytes) -> bytes:
    """Group the bytes of 8-byte integers by plane, so that zlib sees runs of zero high bytes."""
    return b"".join(raw[i::8] for i in range(8))


def unshuffle(planes: bytes) -> bytes:
    """Inverse of :func:`shuffle`."""
    n = len(planes) // 8
    out = bytearray(len(planes))
    for i in range(8):
        out[i::8] = planes[i * n:(i + 1) * n]
    return bytes(out)


class Ints:
    """Integers to pack, in order."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = array("q")

    def put(self, value: int) -> None:
        self.data.append(value)

    def opt(self, value: int | None) -> None:
        self.data.append(NONE if value is None else value)


class IntReader:
    """Integers unpacked, read back in the order they were put."""

    __slots__ = ("data", "at")

    def __init__(self, raw: bytes) -> None:
        self.data = array("q", raw)
        self.at = 0

    def get(self) -> int:
        self.at += 1
        return self.data[self.at - 1]

    def opt(self) -> int | None:
        value = self.get()
        return None if value == NONE else value

    def take(self, n: int) -> array[int]:
        self.at += n
        return self.data[self.at - n:self.at]


#: typecode of the dedup slots and the text encoding of the blob, by state version
SLOT_TYPE = {3: "I", 4: "H"}
_DECODE: dict[int, Callable[[str], bytes]] = {3: base64.b64decode, 4: base64.b85decode}


def pack(ints: Ints, floats: list[float | None], slots: array[int]) -> str:
    """The blob (version 4): header, int planes, floats, dedup slots; zlib-compressed, base85 text.

    >>> ints = Ints(); ints.put(5)
    >>> back, floats, slots = unpack(pack(ints, [1.5, None], array("H", [7, 0])))
    >>> back.get(), floats, list(slots), slots.typecode
    (5, [1.5, None], [7, 0], 'H')
    """
    planes = shuffle(ints.data.tobytes())
    fl = array("d", [math.nan if x is None else x for x in floats]).tobytes()
    sl = slots.tobytes()
    header = array("I", [len(planes), len(fl), len(sl)]).tobytes()
    return base64.b85encode(zlib.compress(header + planes + fl + sl, 9)).decode("ascii")


def unpack(text: str, version: int = 4) -> tuple[IntReader, list[float | None], array[int]]:
    """Inverse of :func:`pack`; ``version`` 3 reads the older blob (base64, 4-byte slots)."""
    raw = zlib.decompress(_DECODE[version](text))
    head = len(_HEADER.tobytes())
    n_planes, n_floats, n_slots = array("I", raw[:head])
    at = head
    ints = IntReader(unshuffle(raw[at:at + n_planes]))
    at += n_planes
    floats: list[float | None] = [None if math.isnan(x) else x for x in array("d", raw[at:at + n_floats])]
    at += n_floats
    return ints, floats, array(SLOT_TYPE[version], raw[at:at + n_slots])
