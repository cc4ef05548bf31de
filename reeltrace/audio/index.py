"""Audio index: every work's landmark hashes sorted by hash value, and the lookup of a
query's hashes in it.

The index holds every work's pair hashes sorted by hash value (numpy ``argsort``), so
the works sharing a query hash are one ``searchsorted`` range away. It is a cache of
what the library database holds, saved as ``index/audio-<generation>.npz``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from ..storage.caches import save_cache
from .config import AudioConfig, MatchParams
from .records import AudioFingerprint, Hits
from .verify import work_peaks


def peak_vote_pad(config: AudioConfig) -> int:
    """Frames added to every peak-vote offset (``work frame - query frame``) so that it is
    >= 0 for any query short enough to vote (``MatchParams.peak_vote_seconds``), with a bin
    to spare for the second grid."""
    mp = config.match
    return int(np.ceil(mp.peak_vote_seconds / config.spectrum.frame_seconds)) + mp.peak_vote_bin


class AudioIndex:
    """In-memory hash index over the fingerprints of all works with sound, made under
    ``config`` (whose frame length and hash step read the stored hashes back)."""

    def __init__(self, config: AudioConfig = AudioConfig()) -> None:
        self.config = config
        self._works: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._peaks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # work_peaks, when first verified
        self._codes: dict[int, np.ndarray] = {}  # spectral-shape codes (audio.codes), where a work has them
        self._peak_table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self._works.values())

    def __contains__(self, work_key: int) -> bool:
        return work_key in self._works

    @property
    def work_keys(self) -> list[int]:
        return sorted(self._works)

    def add(self, work_key: int, fp: AudioFingerprint) -> None:
        """Index a work's fingerprint (replacing any it had)."""
        self._works[int(work_key)] = (
            np.ascontiguousarray(fp.hashes, np.uint32),
            np.ascontiguousarray(fp.times, np.float32),
        )
        self._codes.pop(int(work_key), None)
        if len(fp.codes):
            self._codes[int(work_key)] = np.ascontiguousarray(fp.codes, np.uint32)
        self._sorted = None
        self._peak_table = None
        self._peaks.pop(int(work_key), None)

    def remove(self, work_key: int) -> None:
        self._peaks.pop(int(work_key), None)
        self._codes.pop(int(work_key), None)
        if self._works.pop(int(work_key), None) is not None:
            self._sorted = None
            self._peak_table = None

    def peaks(self, work_key: int) -> tuple[np.ndarray, np.ndarray]:
        """The work's anchor peaks as (frames, bins), sorted by time (``work_peaks``)."""
        got = self._peaks.get(work_key)
        if got is None:
            got = self._peaks[work_key] = work_peaks(*self._works[work_key], self.config)
        return got

    def codes(self, work_key: int) -> np.ndarray:
        """The work's spectral-shape codes (``codes.work_codes``); empty where it has none."""
        return self._codes.get(work_key, np.zeros(0, np.uint32))

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, work keys, times) of all works, sorted by hash; rebuilt after changes."""
        if self._sorted is None:
            keys = sorted(self._works)
            hashes = np.concatenate([self._works[k][0] for k in keys]) if keys else np.zeros(0, np.uint32)
            times = np.concatenate([self._works[k][1] for k in keys]) if keys else np.zeros(0, np.float32)
            works = np.repeat(np.array(keys, np.int64), [len(self._works[k][0]) for k in keys])
            order = np.argsort(hashes, kind="stable")
            self._sorted = (hashes[order], works[order], times[order])
        return self._sorted

    def peak_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every work's anchor peaks (``work_peaks``) for peak votes, sorted by frequency
        step: (steps, frames, the first vote cell of each peak's work, work keys by cell).

        A vote for offset ``o = frame - t`` (frames) of a peak's work goes to cell
        ``first + (o + pad) // bin`` (``peak_vote_pad``), so one ``bincount`` over all cells counts the
        votes of every (work, offset) at once, in time linear in the votes. In memory, 12
        bytes a peak and 4 a cell: about 1.1 MB per hour of audio (and the vote counts of
        one query, 1.8 MB per hour); rebuilt after changes."""
        if self._peak_table is None:
            mp, q = self.config.match, self.config.landmarks.q
            pad = peak_vote_pad(self.config)
            keys = sorted(self._works)
            parts = [self.peaks(k) for k in keys]
            sizes = np.array([(int(f[-1]) if len(f) else 0) // mp.peak_vote_bin + pad // mp.peak_vote_bin + 3 for f, _ in parts],
                             np.int64)  # fmt: skip
            starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
            steps = np.concatenate([(b // q).astype(np.int32) for _, b in parts]) if keys else np.zeros(0, np.int32)
            frames = np.concatenate([f for f, _ in parts]).astype(np.int32) if keys else np.zeros(0, np.int32)
            first = np.repeat(starts, [len(f) for f, _ in parts]).astype(np.int32)  # < 2**31 cells: 19,000 h
            order = np.argsort(steps, kind="stable")
            owner = np.repeat(np.array(keys, np.int32), sizes)
            self._peak_table = (steps[order], frames[order], first[order], owner)
        return self._peak_table

    # -- persistence ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """All works' hashes and times (npz, no pickle); ``from_bytes`` rebuilds the index."""
        keys = sorted(self._works)
        code_keys = sorted(self._codes)
        buf = io.BytesIO()
        np.savez(
            buf,
            keys=np.array(keys, np.int64),
            counts=np.array([len(self._works[k][0]) for k in keys], np.int64),
            hashes=np.concatenate([self._works[k][0] for k in keys]) if keys else np.zeros(0, np.uint32),
            times=np.concatenate([self._works[k][1] for k in keys]) if keys else np.zeros(0, np.float32),
            code_keys=np.array(code_keys, np.int64),
            code_counts=np.array([len(self._codes[k]) for k in code_keys], np.int64),
            codes=np.concatenate([self._codes[k] for k in code_keys]) if code_keys else np.zeros(0, np.uint32),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, config: AudioConfig = AudioConfig()) -> AudioIndex:
        index = cls(config)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if "code_keys" not in z.files:
                # Written before the codes existed: it would hide the works' codes that
                # the database holds. ``load_audio_index`` rebuilds it.
                raise ValueError("audio index cache without spectral-shape codes")
            bounds = np.r_[0, np.cumsum(z["counts"])]
            hashes, times = z["hashes"], z["times"]
            for i, key in enumerate(z["keys"]):
                lo, hi = bounds[i], bounds[i + 1]
                index._works[int(key)] = (hashes[lo:hi].copy(), times[lo:hi].copy())
            bounds = np.r_[0, np.cumsum(z["code_counts"])]
            codes = z["codes"]
            for i, key in enumerate(z["code_keys"]):
                index._codes[int(key)] = codes[bounds[i] : bounds[i + 1]].copy()
        return index

    # -- matching ------------------------------------------------------------------------

    def lookup(self, passes: Sequence[AudioFingerprint], params: MatchParams = MatchParams()) -> Hits | None:
        """All hits of all passes, one per (pass, query anchor time, index row); None
        when there are none.

        Hashes held by more than ``params.bucket_cap`` times the mean bucket size (at least
        ``min_bucket_cap``) are skipped: they are the repeated bars of loop-based music and
        the commonest low-frequency pairs, which cost most of the lookups and say least.
        """
        table_h, table_w, table_t = self.table()
        frame_seconds = self.config.spectrum.frame_seconds
        cap = max(params.min_bucket_cap, int(params.bucket_cap * len(table_h) / (1 << 20)))
        cols: list[list[np.ndarray]] = [[], [], [], []]
        for k, fp in enumerate(passes):
            # A hash variant (dt +- 1) can repeat another pair's hash at the same anchor;
            # dropping repeated (hash, anchor) pairs here, on the pass, is what makes the
            # hits unique, and costs far less than sorting the hits (a 60 s query holds
            # ~4k hashes a pass and ~1M hits).
            qf = np.rint(fp.times / frame_seconds * 2).astype(np.int64)  # half frames: two grids
            _, first = np.unique((fp.hashes.astype(np.int64) << 32) | qf, return_index=True)
            hashes, times, qf = fp.hashes[first], fp.times[first], qf[first]
            lo = np.searchsorted(table_h, hashes, "left")
            hi = np.searchsorted(table_h, hashes, "right")
            counts = hi - lo
            counts[counts > cap] = 0
            total = int(counts.sum())
            if total == 0:
                continue
            qi = np.repeat(np.arange(len(hashes)), counts)
            # Row of each hit: its range's start plus its place within the range.
            rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
            cols[0].append(np.full(total, k, np.int32))
            cols[1].append(times[qi])
            cols[2].append(rows)
            cols[3].append(qf[qi])
        if not cols[0]:
            return None
        k = np.concatenate(cols[0])
        rows = np.concatenate(cols[2])
        q = np.concatenate(cols[1])
        return Hits(k, table_w[rows], q.astype(np.float64), table_t[rows].astype(np.float64), rows, np.concatenate(cols[3]))


def load_audio_index(folder: str, store, config: AudioConfig = AudioConfig()) -> tuple[AudioIndex, int]:
    """The audio fingerprint index (under ``config``) matching the database now, and its
    generation: from the cache file, else rebuilt from the database (and cached)."""
    generation = store.generation()
    path = os.path.join(folder, f"audio-{generation}.npz")
    if os.path.exists(path):
        try:
            with open(path, "rb") as fh:
                return AudioIndex.from_bytes(fh.read(), config), generation
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: rebuild below
    generation, items = store.audio_features()
    index = AudioIndex(config)
    for key, fingerprint in items:
        index.add(key, fingerprint)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(index.to_bytes())

    save_cache(folder, "audio", ".npz", generation, write)
    return index, generation
