"""The bit layout of a landmark pair hash, named once: written by ``landmarks.hash_peaks``,
read back by ``landmarks.anchor_steps`` and ``landmarks._with_neighbours``.

As in Ellis' audfprint, a hash packs three fields of an anchor peak ``(t1, f1)`` and its
target ``(t2, f2)`` into one integer (21 bit positions of a uint32; the delta field's top
bit is always 0, so 20 bits carry information)::

    bits 13..20  anchor  f1 // q                    (8 bits: f1 < 256 q = 512 bins)
    bits  6..12  delta   (f2 - f1) // q + 32        (|f2 - f1| <= 63 bins: 0..63)
    bits  0..5   dt      t2 - t1 frames             (1..63)

The layout is part of the fingerprint format (``config.FINGERPRINT_VERSION``), not a
tunable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..roundtrip import Record


@dataclass(frozen=True)
class HashField:
    """``bits`` bits of a hash starting at bit ``shift``."""

    shift: int
    bits: int

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1

    @property
    def size(self) -> int:
        """How many values the field holds."""
        return 1 << self.bits

    def read(self, hashes: np.ndarray) -> np.ndarray:
        """The field's values (int64) of int64 hashes."""
        return (hashes >> self.shift) & self.mask

    def clear(self, hashes: np.ndarray) -> np.ndarray:
        """The hashes with this field zeroed, ready to take another value."""
        return hashes & ~(self.mask << self.shift)


@dataclass(frozen=True)
class HashFields(Record):
    """The three fields of hashes, as ``HashLayout.unpack`` reads them (int64 arrays)."""

    anchor_step: np.ndarray  # f1 // q
    delta_step: np.ndarray  # (f2 - f1) // q, signed
    dt: np.ndarray  # frames


@dataclass(frozen=True)
class HashLayout:
    anchor: HashField = HashField(13, 8)
    delta: HashField = HashField(6, 7)
    dt: HashField = HashField(0, 6)
    delta_offset: int = 32  # (f2 - f1) // q is stored with this added, so it is never negative

    def pack(self, anchor_step: np.ndarray, delta_step: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """int64 hashes of int64 fields (``delta_step`` signed); the caller keeps each
        field within its bits."""
        return (anchor_step << self.anchor.shift) | ((delta_step + self.delta_offset) << self.delta.shift) | (dt << self.dt.shift)

    def unpack(self, hashes: np.ndarray) -> HashFields:
        h = np.asarray(hashes, np.int64)
        return HashFields(self.anchor.read(h), self.delta.read(h) - self.delta_offset, self.dt.read(h))


HASH_LAYOUT = HashLayout()
