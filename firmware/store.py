"""Store-and-forward on flash that survives power loss.

Readings are appended as fixed-size records to segment files in one folder
(``<dir>/00000012``, 128 records each): appends only, never a rewrite, and a whole
segment is deleted once the server has acknowledged every reading in it, so flash
wear is spread by the file system (LittleFS on ESP32 and Pico W) and bounded by the
number of readings. The buffer is bounded: when it is full the oldest segment is
deleted and its unacknowledged readings are counted as dropped. A record torn by a
power cut is ignored and appending continues in a fresh segment.

A record: seq, t (Unix seconds, 0 = clock unset), dt (device seconds, for the age of
readings taken before the clock was set), level and distance (mm), battery (mV),
quality flags, spread (mm) and the number of valid samples.

The device's small state (next seq, watermark, dropped count, remote config, mode…)
is one JSON file replaced atomically (write, rename) once per measurement and after
each confirmed batch.
"""

import os
import struct

import hw

FORMAT = "<IIiiiHBBH"  # seq, t, dt, level, dist, bat, q, pad, spread
VALID = "<H"
SIZE = struct.calcsize(FORMAT) + 2
PER_SEGMENT = 128
NO_DIST = -(2**31)


def _pack(record) -> bytes:
    seq, t, dt, level_mm, dist_mm, bat_mv, q, spread_mm, valid = record
    return struct.pack(
        FORMAT,
        seq,
        t,
        dt,
        level_mm,
        NO_DIST if dist_mm is None else dist_mm,
        bat_mv or 0,
        q,
        0,
        min(spread_mm, 65535),
    ) + struct.pack(VALID, valid)


def _unpack(data, at: int):
    seq, t, dt, level_mm, dist_mm, bat_mv, q, _, spread_mm = struct.unpack_from(FORMAT, data, at)
    valid = struct.unpack_from(VALID, data, at + SIZE - 2)[0]
    return (seq, t, dt, level_mm, None if dist_mm == NO_DIST else dist_mm, bat_mv, q, spread_mm, valid)


class Buffer:
    def __init__(self, folder: str, capacity: int, acked: int = -1, dropped: int = 0) -> None:
        self.folder = folder
        self.max_segments = max(2, (capacity + PER_SEGMENT - 1) // PER_SEGMENT)
        self.acked = acked
        self.dropped = dropped
        try:
            os.mkdir(folder)
        except OSError:
            pass
        self.segments = sorted(int(name) for name in os.listdir(folder) if name.isdigit())
        self.sizes = {}
        for n in self.segments:
            self.sizes[n] = os.stat(self._path(n))[6] // SIZE
        self.torn = bool(self.segments) and os.stat(self._path(self.segments[-1]))[6] % SIZE != 0

    def _path(self, n: int) -> str:
        return "%s/%08d" % (self.folder, n)

    def _read_segment(self, n: int) -> list:
        with open(self._path(n), "rb") as handle:
            data = handle.read(self.sizes[n] * SIZE)
        return [_unpack(data, i * SIZE) for i in range(len(data) // SIZE)]

    def _seq_at(self, n: int, index: int) -> int:
        with open(self._path(n), "rb") as handle:
            handle.seek(index * SIZE)
            return struct.unpack_from("<I", handle.read(4))[0]

    def last_seq(self) -> int:
        """The highest seq on flash, or -1."""
        for n in reversed(self.segments):
            if self.sizes[n]:
                return self._seq_at(n, self.sizes[n] - 1)
        return -1

    def append(self, record) -> None:
        if not self.segments or self.torn or self.sizes[self.segments[-1]] >= PER_SEGMENT:
            n = self.segments[-1] + 1 if self.segments else 0
            self.segments.append(n)
            self.sizes[n] = 0
            self.torn = False
            while len(self.segments) > self.max_segments:
                self._drop_oldest()
        n = self.segments[-1]
        with open(self._path(n), "ab") as handle:
            handle.write(_pack(record))
        self.sizes[n] += 1

    def _drop_oldest(self) -> None:
        n = self.segments.pop(0)
        for record in self._read_segment(n):
            if record[0] > self.acked:
                self.dropped += 1
        os.remove(self._path(n))
        del self.sizes[n]

    def pending(self, limit: int) -> list:
        """Up to ``limit`` unacknowledged readings, oldest first."""
        out = []
        for n in self.segments:
            if not self.sizes[n]:
                continue
            for record in self._read_segment(n):
                if record[0] > self.acked:
                    out.append(record)
                    if len(out) >= limit:
                        return out
        return out

    def depth(self) -> int:
        """How many readings wait for the server's acknowledgement."""
        count = 0
        for n in self.segments:
            size = self.sizes[n]
            if not size or self._seq_at(n, size - 1) <= self.acked:
                continue
            if self._seq_at(n, 0) > self.acked:
                count += size
            else:
                count += len([r for r in self._read_segment(n) if r[0] > self.acked])
        return count

    def ack(self, seq: int) -> None:
        """The server stored everything up to ``seq``: delete segments it covers
        (the segment being appended to stays until it is full)."""
        if seq <= self.acked:
            return
        self.acked = seq
        while self.segments:
            n = self.segments[0]
            size = self.sizes[n]
            if n == self.segments[-1] and not self.torn and size < PER_SEGMENT:
                break
            if size and self._seq_at(n, size - 1) > seq:
                break
            self.segments.pop(0)
            del self.sizes[n]
            os.remove(self._path(n))


class State:
    """A small JSON document replaced atomically (write, then rename)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> dict:
        for path in (self.path, self.path + ".tmp"):
            try:
                with open(path) as handle:
                    document = hw.loads(handle.read())
                if isinstance(document, dict):
                    return document
            except (OSError, ValueError):
                pass
        return {}

    def save(self, document: dict) -> None:
        import json

        with open(self.path + ".tmp", "w") as handle:
            handle.write(json.dumps(document))
        hw.rename(self.path + ".tmp", self.path)
