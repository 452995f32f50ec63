#!/usr/bin/env python3
"""Reference reader for ktape segment files, format v2 (format/SPEC.md),
and version 1 files as SPEC.md appendix A describes them.

Written from the specification alone, to show that the specification is
enough to read the files and that it agrees with ktape's own reader. Python
3.11 standard library only; data frames and record tables are decompressed
by the zstd command-line tool. Encrypted files (2.1, SPEC 4.6) are opened
with libsodium's XChaCha20-Poly1305, called through ctypes (or PyNaCl when
it is installed): this reader lays out the bytes, the cryptography is
libsodium's. The key id is hashlib's BLAKE2b.

Usage: ktape_segment.py [--self-test] [--key KEYFILE] FILE

Prints the file's records as JSON lines (SPEC.md section 9) on stdout.
Problems go to stderr, one line each, naming the file, the block and the
byte position. Exit status: 0 when the file is intact, 1 when it is damaged
(the intact records were still printed), 2 when it is refused (not a
segment, unsupported version, unusable header) or cannot be read, 3 when
it is encrypted and no key, or another key, was given (without a key every
CRC is still checked, and the report says that only the CRCs were).
"""

import base64
import hashlib
import subprocess
import sys

# This reader implements version 2.1 (2.0 and encryption), and version 1.0
# as appendix A describes it.
READER_MAJORS = (1, 2)
READER_MINOR = {1: 0, 2: 1}  # the newest minor this reader knows, per major
FLAG_ENCRYPTED = 0x0001  # 2.1, SPEC 4.2 and 4.6
KEY_ID_SIZE = 8
NONCE_SIZE = 24
TAG_SIZE = 16
CRYPT_EXT = KEY_ID_SIZE + 2 * NONCE_SIZE

SKIPPABLE_MAGIC = 0x184D2A5B
SKIPPABLE_FIRST = 0x184D2A50
SKIPPABLE_LAST = 0x184D2A5F
ZSTD_MAGIC = 0xFD2FB528

# KTBH content without CRC (tag included) up to data_crc: the whole v1.0
# content, and the fields common to both majors (what a scan checks, 6.3).
BLOCK_HEADER_FIELDS = 64
BLOCK_HEADER_FIELDS_V2 = 72  # v2.0: plus table_size and table_raw_size
BLOCK_HEADER_FRAME = 76  # whole v1.0 KTBH frame, the smallest of any version
TABLE_COLUMNS = 8  # record table columns of v2.0 (SPEC 5.1)
FOOTER_ENTRY = 52
FOOTER_TOTALS = 56
TOPIC_MAX = 249
ATTR_TS_MASK = 0x03
ATTR_RESERVED = 0x7C  # v1 records; in v2 every bit above the type is reserved
ATTR_EXTENSION = 0x80  # v1 records only
# The memory limit of 6.4 step 6, for raw_size and table_raw_size each.
MAX_BLOCK_RAW = 1 << 30

TS_TYPE_NAMES = {0: b"NoTimestampType", 1: b"CreateTime", 2: b"LogAppendTime"}

# ---------------------------------------------------------------- CRC-32C


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------- errors


class Refused(Exception):
    """The file cannot be read at all."""


class Damaged(Exception):
    """Part of the file is unusable."""


class KeyProblem(Exception):
    """Encrypted with another key than the one given (exit status 3)."""


class Malformed(Exception):
    """A field runs past the end of its structure or is invalid."""


# ---------------------------------------------------------------- primitive decoding


def u16(b, p):
    return b[p] | b[p + 1] << 8


def u32(b, p):
    return int.from_bytes(b[p:p + 4], "little")


def u64(b, p):
    return int.from_bytes(b[p:p + 8], "little")


def i64(b, p):
    return int.from_bytes(b[p:p + 8], "little", signed=True)


def to_i64(v):
    """Wraps an integer to a signed 64-bit value."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


class Cursor:
    """Reads fields from buf[pos:end]; raises Malformed past end."""

    def __init__(self, buf, pos, end):
        self.buf = buf
        self.pos = pos
        self.end = end

    def left(self):
        return self.end - self.pos

    def need(self, n):
        if n > self.left():
            raise Malformed("field runs past the end")

    def u8(self):
        self.need(1)
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u16(self):
        self.need(2)
        v = u16(self.buf, self.pos)
        self.pos += 2
        return v

    def u32(self):
        self.need(4)
        v = u32(self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self):
        self.need(8)
        v = u64(self.buf, self.pos)
        self.pos += 8
        return v

    def i64(self):
        self.need(8)
        v = i64(self.buf, self.pos)
        self.pos += 8
        return v

    def bytes(self, n):
        self.need(n)
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return v

    def uvarint(self):
        v = 0
        for i in range(10):
            b = self.u8()
            if i == 9 and b > 1:
                raise Malformed("uvarint overflows 64 bits")
            v |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return v
        raise Malformed("uvarint longer than 10 bytes")

    def zigzag(self):
        z = self.uvarint()
        return (z >> 1) ^ -(z & 1)

    def nbytes(self):
        n = self.uvarint()
        if n == 0:
            return None
        return self.bytes(n - 1)

    def plain_bytes(self):
        return self.bytes(self.uvarint())


# ---------------------------------------------------------------- frames


def ktape_frame(data, pos, tag):
    """Validates the ktape frame with `tag` at pos (SPEC 4.1).

    Returns (content, frame_size) where content excludes the CRC. Raises
    Malformed with .kind "truncated", "format" or "checksum"."""
    def fail(kind, msg):
        e = Malformed(msg)
        e.kind = kind
        raise e

    if pos > len(data) or len(data) - pos < 8:
        fail("truncated", "frame header runs past the end of the file")
    if u32(data, pos) != SKIPPABLE_MAGIC:
        fail("format", "no ktape frame magic")
    size = u32(data, pos + 4)
    if size > len(data) - pos - 8:
        fail("truncated", "frame runs past the end of the file")
    if size < 8 or data[pos + 8:pos + 12] != tag:
        fail("format", "not a %s frame" % tag.decode())
    content = data[pos + 8:pos + 4 + size]
    if crc32c(content) != u32(data, pos + 4 + size):
        fail("checksum", "%s frame checksum mismatch" % tag.decode())
    return content, size


class Block:
    __slots__ = ("pos", "index", "record_count", "compressed_size", "raw_size", "first_offset",
                 "last_offset", "min_timestamp", "max_timestamp", "base_timestamp", "data_crc",
                 "table_size", "table_raw_size")

    def plausible(self):
        return (self.record_count >= 1 and 0 <= self.first_offset <= self.last_offset
                and self.last_offset - self.first_offset >= self.record_count - 1
                and self.min_timestamp <= self.max_timestamp)


def parse_block_header(content):
    """Fields of a KTBH content (without CRC) up to data_crc, which both
    majors share. Raises Malformed if short."""
    if len(content) < BLOCK_HEADER_FIELDS:
        raise Malformed("block header is too short")
    c = Cursor(content, 4, len(content))
    b = Block()
    b.index = c.u32()
    b.record_count = c.u32()
    b.compressed_size = c.u32()
    b.raw_size = c.u32()
    b.first_offset = c.i64()
    b.last_offset = c.i64()
    b.min_timestamp = c.i64()
    b.max_timestamp = c.i64()
    b.base_timestamp = c.i64()
    b.data_crc = c.u32()
    return b


# ---------------------------------------------------------------- the reader


class Segment:
    def __init__(self, path, data, key=None):
        self.path = path
        self.data = data
        self.key = key
        self.encrypted = False
        self.crc_only = 0  # encrypted blocks whose CRCs alone were checked (no key)
        self.problems = 0
        self.blocks = []
        self.from_footer = False
        self.parse_header()
        self.build_index()

    def report(self, msg):
        self.problems += 1
        print("%s: %s" % (self.path, msg), file=sys.stderr)

    # SPEC 6.1
    def parse_header(self):
        data = self.data
        if len(data) < 4 or u32(data, 0) != SKIPPABLE_MAGIC:
            raise Refused("not a ktape segment file (bad magic)")
        try:
            content, size = ktape_frame(data, 0, b"KTSH")
        except Malformed as e:
            if e.kind == "truncated":
                raise Refused("segment header is truncated")
            if e.kind == "checksum":
                raise Refused("segment header checksum mismatch")
            raise Refused("not a ktape segment file (no KTSH header)")
        c = Cursor(content, 4, len(content))
        try:
            self.major = c.u8()
            self.minor = c.u8()
            # Before any later field: a future major may lay them out differently.
            if self.major not in READER_MAJORS:
                raise Refused("segment format version %d.%d is not supported "
                              "(this reader reads 1.x and 2.x)" % (self.major, self.minor))
            flags = c.u16()
            codec = c.u8()
            reserved = c.bytes(3)
            partition = c.u32()
            self.generation = c.u32()
            topic_len = c.uvarint()
            # 4.2: a flag is a feature a reader must know; 2.1 defines one
            if self.major == 2 and self.minor >= 1 and flags & FLAG_ENCRYPTED:
                self.encrypted = True
                flags &= ~FLAG_ENCRYPTED
            if flags and self.minor > READER_MINOR[self.major]:
                raise Refused("segment format version %d.%d uses flags this reader does not know "
                              "(0x%04x)" % (self.major, self.minor, flags))
            if flags != 0 or reserved != b"\0\0\0":
                raise Refused("segment header has reserved bits set")
            if codec != 1:
                raise Refused("unknown codec %d" % codec)
            if partition >= 1 << 31:
                raise Refused("negative partition")
            if not 1 <= topic_len <= TOPIC_MAX:
                raise Refused("topic name length %d is invalid" % topic_len)
            topic = c.bytes(topic_len)
            if self.encrypted:
                self.key_id = c.bytes(KEY_ID_SIZE)
        except Malformed:
            raise Refused("segment header is too short")
        if b"\0" in topic:
            raise Refused("topic name contains a NUL byte")
        if c.left() and self.minor <= READER_MINOR[self.major]:
            raise Refused("segment header has %d unexpected bytes" % c.left())
        self.partition = partition
        self.topic = topic
        self.data_start = 8 + size
        if self.encrypted and self.key is not None and key_id(self.key) != self.key_id:
            raise KeyProblem("segment encrypted with key id %s, the key file has key id %s"
                             % (self.key_id.hex(), key_id(self.key).hex()))

    def newer_minor(self):
        return self.minor > READER_MINOR[self.major]

    def build_index(self):
        why = self.parse_footer()
        if why is None:
            self.from_footer = True
            return
        if why == "missing":
            self.report("no footer: the file is truncated; scanning the block headers")
        else:
            self.report("footer is damaged (%s); scanning the block headers" % why)
        self.blocks = []
        self.scan()

    # SPEC 6.2. Returns None when the footer is good, else why not.
    def parse_footer(self):
        data = self.data
        size = len(data)
        start = self.data_start
        if size - start < 12 or data[size - 8:size - 4] != b"KTND":
            return "missing"
        total = u32(data, size - 12)
        if total < 24 or total > size - start:
            return "footer size %d is impossible" % total
        fpos = size - total
        try:
            content, fsize = ktape_frame(data, fpos, b"KTFT")
        except Malformed as e:
            return str(e)
        if 8 + fsize != total:
            return "footer frame size disagrees with the footer size"
        c = Cursor(content, 4, len(content) - 8)  # without footer_size and KTND
        try:
            count = c.u32()
            entry_size = c.u16()
            reserved = c.u16()
            if reserved != 0:
                return "reserved field is not zero"
            if entry_size < FOOTER_ENTRY:
                return "entry size %d is too small" % entry_size
            if count == 0 or count * entry_size + FOOTER_TOTALS > c.left():
                return "block count %d does not fit" % count
            blocks = []
            for i in range(count):
                e = Cursor(c.bytes(entry_size), 0, entry_size)
                b = Block()
                b.index = i
                b.pos = e.u64()
                b.compressed_size = e.u32()
                b.raw_size = e.u32()
                b.record_count = e.u32()
                b.first_offset = e.i64()
                b.last_offset = e.i64()
                b.min_timestamp = e.i64()
                b.max_timestamp = e.i64()
                blocks.append(b)
            self.totals = [c.u64() for _ in range(3)] + [c.i64() for _ in range(4)]
        except Malformed:
            return "footer is too short"
        if c.left() and not self.newer_minor():
            return "%d unexpected bytes after the totals" % c.left()
        expect = start
        prev_last = -1
        for b in blocks:
            if (b.pos < expect or b.pos + BLOCK_HEADER_FRAME + b.compressed_size > fpos
                    or not b.plausible() or b.first_offset <= prev_last):
                return "index entry %d is implausible" % b.index
            expect = b.pos + BLOCK_HEADER_FRAME + b.compressed_size
            prev_last = b.last_offset
        self.blocks = blocks
        return None

    # SPEC 6.3
    def valid_block_header_at(self, p):
        data = self.data
        if len(data) - p < 8 or u32(data, p) != SKIPPABLE_MAGIC or u32(data, p + 4) < 68:
            return False
        try:
            ktape_frame(data, p, b"KTBH")
        except Malformed:
            return False
        return True

    def resync(self, q):
        data = self.data
        pattern = SKIPPABLE_MAGIC.to_bytes(4, "little")
        while True:
            p = data.find(pattern, q)
            if p < 0:
                return len(data)
            if self.valid_block_header_at(p):
                return p
            q = p + 1

    def scan(self):
        data = self.data
        size = len(data)
        pos = self.data_start
        prev_last = -1
        while pos < size:
            if size - pos < 8:
                self.report("byte %d: truncated tail: the file ends inside a frame header" % pos)
                break
            magic = u32(data, pos)
            if not SKIPPABLE_FIRST <= magic <= SKIPPABLE_LAST:
                nxt = self.resync(pos + 1)
                self.report("byte %d: unexpected data (%d bytes skipped)" % (pos, nxt - pos))
                pos = nxt
                continue
            fsize = u32(data, pos + 4)
            if fsize > size - pos - 8:
                self.report("byte %d: truncated tail: the file ends inside a frame" % pos)
                break
            nxt = pos + 8 + fsize
            ktape = magic == SKIPPABLE_MAGIC and fsize >= 8
            tag = data[pos + 8:pos + 12] if ktape else None
            if tag == b"KTFT":
                break  # the footer, already found damaged
            if tag != b"KTBH":
                pos = nxt  # an unknown skippable frame
                continue
            try:
                content, _ = ktape_frame(data, pos, b"KTBH")
                b = parse_block_header(content)
                ok = b.plausible() and b.first_offset > prev_last
            except Malformed:
                ok = False
            if not ok:
                again = self.resync(pos + 1)
                self.report("byte %d: damaged block header (%d bytes skipped)" % (pos, again - pos))
                pos = again
                continue
            if b.compressed_size > size - nxt:
                self.report("block %d at byte %d: truncated tail: the file ends inside this block"
                            % (b.index, pos))
                break
            b.pos = pos
            self.blocks.append(b)
            prev_last = b.last_offset
            pos = nxt + b.compressed_size

    # SPEC 6.4 (appendix A for version 1). Yields the block's records;
    # raises Damaged.
    def read_block(self, idx):
        data = self.data
        try:
            content, fsize = ktape_frame(data, idx.pos, b"KTBH")
        except Malformed as e:
            if e.kind == "checksum":
                raise Damaged("block header checksum mismatch")
            raise Damaged("block header is missing or malformed")
        try:
            h = parse_block_header(content)
        except Malformed:
            raise Damaged("block header is malformed")
        if not h.plausible():
            raise Damaged("block header is malformed")
        if self.major == 1:
            # A.1: a later minor's extra bytes follow data_crc.
            extra = len(content) - BLOCK_HEADER_FIELDS
        else:
            if len(content) < BLOCK_HEADER_FIELDS_V2:
                raise Damaged("block header is too short")
            h.table_size = u32(content, BLOCK_HEADER_FIELDS)
            h.table_raw_size = u32(content, BLOCK_HEADER_FIELDS + 4)
            fixed = BLOCK_HEADER_FIELDS_V2
            if self.encrypted:
                # 4.6: key id, table nonce, data nonce after table_raw_size
                fixed += CRYPT_EXT
                if len(content) < fixed:
                    raise Damaged("encrypted block header is too short")
                crypt = content[BLOCK_HEADER_FIELDS_V2:fixed]
            if h.table_size > len(content) - fixed:
                raise Damaged("record table size %d does not fit in the block header" % h.table_size)
            # The table is found from the end of the content, so that a later
            # minor's fields can go between table_raw_size and the table.
            extra = len(content) - fixed - h.table_size
        if extra and not self.newer_minor():
            raise Damaged("block header has %d unexpected bytes" % extra)
        if self.from_footer:
            fields = ("index", "record_count", "compressed_size", "raw_size", "first_offset",
                      "last_offset", "min_timestamp", "max_timestamp")
            if any(getattr(h, f) != getattr(idx, f) for f in fields):
                raise Damaged("block header disagrees with the footer index")
        dpos = idx.pos + 8 + fsize
        if h.compressed_size > len(data) - dpos:
            raise Damaged("block data is truncated")
        frame = data[dpos:dpos + h.compressed_size]
        if crc32c(frame) != h.data_crc:
            raise Damaged("block data checksum mismatch")
        if h.raw_size > MAX_BLOCK_RAW:
            raise Damaged("block is larger than this reader's limit")
        if self.major == 2 and h.table_raw_size > MAX_BLOCK_RAW:
            raise Damaged("record table is larger than this reader's limit")
        if self.major == 2:
            table = content[len(content) - h.table_size:]
        if self.major == 2 and self.encrypted:
            # every CRC held; what is left needs the key (4.6)
            if self.key is None:
                self.crc_only += 1
                return
            table, frame = self.open_block(h, crypt, table, frame)
        check_zstd_frame(frame, len(frame), h.raw_size, "block data")
        if self.major == 2:
            check_zstd_frame(table, len(table), h.table_raw_size, "record table")
        raw = zstd_decompress(frame)
        if raw is None or len(raw) != h.raw_size:
            raise Damaged("block does not decompress (zstd content checksum)")
        if self.major == 1:
            yield from self.decode_records_v1(h, raw)
            return
        # The CRC of the block header frame covers the table: it carries no
        # content checksum of its own.
        table_raw = zstd_decompress(table)
        if table_raw is None or len(table_raw) != h.table_raw_size:
            raise Damaged("record table does not decompress")
        yield from self.decode_records_v2(h, read_record_table(h, table_raw, self.newer_minor()),
                                          raw)

    # SPEC 4.6: the key id, then both sealed parts opened with their
    # nonces and associated data; returns the compressed table and data.
    def open_block(self, h, crypt, sealed_table, sealed_data):
        bid = crypt[:KEY_ID_SIZE]
        if bid != key_id(self.key):
            raise KeyProblem("block %d at byte %d: encrypted with key id %s, the key file has key id %s"
                             % (h.index, h.pos, bid.hex(), key_id(self.key).hex()))
        if len(sealed_table) < TAG_SIZE or len(sealed_data) < TAG_SIZE:
            raise Damaged("sealed block part is shorter than its tag")
        nonce_table = crypt[KEY_ID_SIZE:KEY_ID_SIZE + NONCE_SIZE]
        nonce_data = crypt[KEY_ID_SIZE + NONCE_SIZE:]
        table = aead_open(self.key, nonce_table, self.block_ad(1, h), sealed_table)
        data = aead_open(self.key, nonce_data, self.block_ad(2, h), sealed_data) if table is not None else None
        if table is None or data is None:
            raise Damaged("block fails authentication (XChaCha20-Poly1305 tag)")
        return table, data

    def block_ad(self, part, h):
        return b"".join((
            b"KTAD", bytes([part]),
            (self.partition).to_bytes(4, "little"), self.generation.to_bytes(4, "little"),
            h.index.to_bytes(4, "little"), h.record_count.to_bytes(4, "little"),
            h.raw_size.to_bytes(4, "little"), h.table_raw_size.to_bytes(4, "little"),
            *((v & (1 << 64) - 1).to_bytes(8, "little") for v in (
                h.first_offset, h.last_offset, h.min_timestamp, h.max_timestamp, h.base_timestamp)),
            bytes([len(self.topic)]), self.topic))

    # SPEC 5.3 and 6.5 "The records"
    def decode_records_v2(self, h, cols, raw):
        attrs, offset_deltas, ts_deltas, key_lens, value_lens, header_counts = cols[:6]
        name_lens, header_value_lens = cols[6:8]
        cur = Cursor(raw, 0, len(raw))

        def take(stored, nullable):
            # Nullable lengths store 0 for null and len + 1 otherwise;
            # header names are never null and store their length.
            if nullable:
                if stored == 0:
                    return None
                stored -= 1
            try:
                return cur.bytes(stored)
            except Malformed:
                raise Damaged("record field runs past the end of the payload")

        prev_offset = h.first_offset - 1
        prev_ts = h.base_timestamp
        row = 0  # next row of the two header columns
        for i in range(h.record_count):
            attr = attrs[i]
            if attr & ~ATTR_TS_MASK or attr & ATTR_TS_MASK == 3:
                raise Damaged("record has reserved attribute bits set")
            key = take(key_lens[i], True)
            value = take(value_lens[i], True)
            headers = []
            for r in range(row, row + header_counts[i]):
                name = take(name_lens[r], False)
                headers.append((name, take(header_value_lens[r], True)))
            row += header_counts[i]
            od = offset_deltas[i]
            if od > h.last_offset - prev_offset - 1:
                raise Damaged("record offset outside the block's range")
            offset = prev_offset + 1 + od
            tz = ts_deltas[i]
            ts = to_i64(prev_ts + ((tz >> 1) ^ -(tz & 1)))
            if not h.min_timestamp <= ts <= h.max_timestamp:
                raise Damaged("record timestamp outside the block's range")
            if i == 0 and offset != h.first_offset:
                raise Damaged("block's first offset differs from its header")
            if i == h.record_count - 1 and offset != h.last_offset:
                raise Damaged("block's last offset differs from its header")
            prev_offset = offset
            prev_ts = ts
            yield offset, ts, attr & ATTR_TS_MASK, key, value, headers
        if cur.left():
            raise Damaged("payload has %d bytes after the last record" % cur.left())

    # SPEC appendix A.2 and A.3: version 1 records, row by row in the payload
    def decode_records_v1(self, h, raw):
        cur = Cursor(raw, 0, len(raw))
        seen = 0
        prev_offset = h.first_offset - 1
        prev_ts = h.base_timestamp
        while cur.left():
            if seen == h.record_count:
                raise Damaged("block holds more records than its header says")
            try:
                attr = cur.u8()
                od = cur.uvarint()
                tz = cur.uvarint()
                key = cur.nbytes()
                value = cur.nbytes()
                hc = cur.uvarint()
            except Malformed:
                raise Damaged("record is malformed")
            if attr & ATTR_RESERVED or attr & ATTR_TS_MASK == 3:
                raise Damaged("record has reserved attribute bits set")
            if hc > cur.left() // 2:
                raise Damaged("record header count is invalid")
            headers = []
            try:
                for _ in range(hc):
                    name = cur.plain_bytes()
                    headers.append((name, cur.nbytes()))
            except Malformed:
                raise Damaged("record header is malformed")
            if attr & ATTR_EXTENSION:
                try:
                    cur.bytes(cur.uvarint())  # fields of a later minor version
                except Malformed:
                    raise Damaged("record extension is malformed")
            if od > h.last_offset - prev_offset - 1:
                raise Damaged("record offset outside the block's range")
            offset = prev_offset + 1 + od
            ts = to_i64(prev_ts + ((tz >> 1) ^ -(tz & 1)))
            if not h.min_timestamp <= ts <= h.max_timestamp:
                raise Damaged("record timestamp outside the block's range")
            if seen == 0 and offset != h.first_offset:
                raise Damaged("block's first offset differs from its header")
            prev_offset = offset
            prev_ts = ts
            seen += 1
            yield offset, ts, attr & ATTR_TS_MASK, key, value, headers
        if seen != h.record_count:
            raise Damaged("block holds fewer records than its header says")
        if prev_offset != h.last_offset:
            raise Damaged("block's last offset differs from its header")

    def records(self):
        """Yields every readable record; reports damaged blocks and goes on."""
        for idx in self.blocks:
            try:
                yield from self.read_block(idx)
            except Damaged as e:
                self.report("block %d at byte %d: %s" % (idx.index, idx.pos, e))
        if self.crc_only:
            print("%s: encrypted with key id %s and no key was given (--key): %d block(s) checked by "
                  "their CRCs only, not decrypted nor authenticated" % (self.path, self.key_id.hex(),
                                                                        self.crc_only), file=sys.stderr)


# ---------------------------------------------------------------- record table (v2)


def column_values(planes, width, rows):
    """The values of a byte-plane column (SPEC 5.1): plane k holds byte k
    (least significant first) of every row."""
    values = [0] * rows
    for k in range(width):
        plane = planes[k * rows:(k + 1) * rows]
        values = [v | b << (8 * k) for v, b in zip(values, plane)]
    return values


def read_record_table(h, table, newer_minor):
    """Checks the structure of a decompressed record table (SPEC 5.1 and 6.5
    "The table") and returns its eight known columns as lists of values.
    Raises Damaged."""
    c = Cursor(table, 0, len(table))
    cols = []
    try:
        count = c.u8()
        if count < TABLE_COLUMNS:
            raise Damaged("record table has %d columns, fewer than %d" % (count, TABLE_COLUMNS))
        if count > TABLE_COLUMNS and not newer_minor:
            raise Damaged("record table has %d unexpected columns" % (count - TABLE_COLUMNS))
        rows = h.record_count
        for k in range(count):
            if k == 6:
                # The two header columns have one row per header. Each header
                # takes at least a byte in each of them, which bounds H before
                # it sizes anything (the check 6.5 allows).
                rows = sum(cols[5])
                if rows > c.left() // 2:
                    raise Damaged("record table header count %d is impossible" % rows)
            elif k == TABLE_COLUMNS:
                rows = h.record_count  # a later minor's columns: one row per record
            width = c.u8()
            if not 1 <= width <= 8:
                raise Damaged("record table column %d has width %d" % (k, width))
            planes = c.bytes(width * rows)
            if k < TABLE_COLUMNS:
                cols.append(column_values(planes, width, rows))
    except Malformed:
        raise Damaged("record table column runs past the end of the table")
    if c.left():
        raise Damaged("record table has %d bytes after its last column" % c.left())
    return cols


# ---------------------------------------------------------------- zstd


def zstd_frame_info(frame):
    """(Frame_Content_Size, frame length) of the zstd frame at the start of
    `frame` (RFC 8878 3.1.1), walking its block headers."""
    c = Cursor(frame, 0, len(frame))
    if c.u32() != ZSTD_MAGIC:
        raise Malformed("bad magic")
    fhd = c.u8()
    fcs_flag = fhd >> 6
    single = fhd >> 5 & 1
    if fhd & 0x08:
        raise Malformed("reserved bit set")
    checksum = fhd >> 2 & 1
    did_size = (0, 1, 2, 4)[fhd & 3]
    if not single:
        c.u8()  # window descriptor
    if did_size and int.from_bytes(c.bytes(did_size), "little"):
        raise Malformed("uses a dictionary")
    fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if fcs_size == 0:
        raise Malformed("no content size")
    fcs = int.from_bytes(c.bytes(fcs_size), "little")
    if fcs_size == 2:
        fcs += 256
    while True:
        bh = int.from_bytes(c.bytes(3), "little")
        last, btype, bsize = bh & 1, bh >> 1 & 3, bh >> 3
        if btype == 3:
            raise Malformed("reserved block type")
        c.bytes(1 if btype == 1 else bsize)
        if last:
            break
    if checksum:
        c.bytes(4)
    return fcs, c.pos


def check_zstd_frame(frame, size, content_size, what):
    """SPEC 6.4 step 7: `frame` is exactly one zstd frame of `size` bytes
    whose Frame_Content_Size is `content_size`. Raises Damaged. (The zstd
    tool alone would also accept several frames back to back.)"""
    try:
        fcs, frame_len = zstd_frame_info(frame)
    except Malformed as e:
        raise Damaged("%s is not a zstd frame (%s)" % (what, e))
    if fcs != content_size or frame_len != size:
        raise Damaged("%s is not one zstd frame of the declared size" % what)


def zstd_decompress(frame):
    try:
        p = subprocess.run(["zstd", "-dcq"], input=frame, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=False)
    except OSError as e:
        raise SystemExit("ktape_segment.py: cannot run zstd: %s" % e)
    return p.stdout if p.returncode == 0 else None


# ---------------------------------------------------------------- encryption (SPEC 4.6)


def read_key_file(path):
    """64 hexadecimal digits and at most a newline (SPEC 4.6)."""
    with open(path, "rb") as f:
        text = f.read(200)
    if text.endswith(b"\n") and len(text) == 65:
        text = text[:-1]
    if len(text) != 64:
        raise ValueError("a key file holds exactly 64 hexadecimal digits")
    return bytes.fromhex(text.decode("ascii"))


def key_id(key):
    return hashlib.blake2b(b"ktape key id", digest_size=32, key=key).digest()[:KEY_ID_SIZE]


_sodium = None


def aead_open(key, nonce, ad, sealed):
    """XChaCha20-Poly1305 (IETF) decryption by libsodium; None when the tag
    does not verify."""
    global _sodium
    try:
        from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt as nacl_open
        from nacl.exceptions import CryptoError
        try:
            return nacl_open(sealed, ad, nonce, key)
        except CryptoError:
            return None
    except ImportError:
        pass
    import ctypes
    import ctypes.util
    if _sodium is None:
        name = ctypes.util.find_library("sodium") or "libsodium.so.23"
        try:
            _sodium = ctypes.CDLL(name)
        except OSError as e:
            raise SystemExit("ktape_segment.py: cannot load libsodium to decrypt: %s" % e)
        if _sodium.sodium_init() < 0:
            raise SystemExit("ktape_segment.py: libsodium does not initialise")
    out = ctypes.create_string_buffer(max(len(sealed) - TAG_SIZE, 1))
    out_len = ctypes.c_ulonglong(0)
    rc = _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, ctypes.byref(out_len), None, sealed, ctypes.c_ulonglong(len(sealed)), ad,
        ctypes.c_ulonglong(len(ad)), nonce, key)
    return out.raw[:out_len.value] if rc == 0 else None


# ---------------------------------------------------------------- JSON (SPEC 9)

_ESCAPES = {0x22: b'\\"', 0x5C: b"\\\\", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}


def json_string(b):
    out = bytearray(b'"')
    for ch in b:
        if ch in _ESCAPES:
            out += _ESCAPES[ch]
        elif ch < 0x20 or ch == 0x7F:
            out += b"\\u00%02x" % ch
        else:
            out.append(ch)
    out += b'"'
    return bytes(out)


def json_bytes(b):
    if b is None:
        return b"null"
    try:
        b.decode("utf-8", "strict")
    except UnicodeDecodeError:
        return b'{"base64":"' + base64.b64encode(b) + b'"}'
    return json_string(b)


def json_record(topic, partition, rec):
    offset, ts, ts_type, key, value, headers = rec
    hs = b",".join(b"[" + json_bytes(n) + b"," + json_bytes(v) + b"]" for n, v in headers)
    return b"".join((
        b'{"topic":', json_string(topic),
        b',"partition":%d,"offset":%d,"timestamp":%d' % (partition, offset, ts),
        b',"timestamp_type":"', TS_TYPE_NAMES[ts_type], b'"',
        b',"key":', json_bytes(key),
        b',"value":', json_bytes(value),
        b',"headers":[', hs, b"]}\n"))


# ---------------------------------------------------------------- CLI


def self_test():
    assert crc32c(b"123456789") == 0xE3069283, "CRC-32C check value"
    assert crc32c(b"") == 0
    assert Cursor(b"\xac\x02", 0, 2).uvarint() == 300
    assert Cursor(b"\x03", 0, 1).zigzag() == -2
    # SPEC 5.1's example: value lengths 155, 6, 0 and 300 in a width-2 column
    assert column_values(b"\x9c\x07\x01\x2d\x00\x00\x00\x01", 2, 4) == [156, 7, 1, 301]
    assert json_string(b'a"\\\n\r\t\x08\x0c\x7f\x00/\xc3\xa9') == b'"a\\"\\\\\\n\\r\\t\\u0008\\u000c\\u007f\\u0000/\xc3\xa9"'
    assert json_bytes(b"\xc3\x28") == b'{"base64":"wyg="}'
    assert json_bytes(b"\xed\xa0\x80") == b'{"base64":"7aCA"}'  # a surrogate
    assert json_bytes(b"") == b'""' and json_bytes(None) == b"null"
    # SPEC 4.6's key id of the vector key (bytes 0x00 to 0x1f)
    assert key_id(bytes(range(32))).hex() == "5919b3ca611696f4", "key id"
    print("self-test ok")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    key = None
    if len(argv) == 4 and argv[1] == "--key":
        try:
            key = read_key_file(argv[2])
        except (OSError, ValueError) as e:
            print("%s: %s" % (argv[2], e), file=sys.stderr)
            return 2
        argv = argv[:1] + argv[3:]
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: ktape_segment.py [--self-test] [--key KEYFILE] FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print("%s: %s" % (path, e.strerror), file=sys.stderr)
        return 2
    try:
        seg = Segment(path, data, key)
        out = sys.stdout.buffer
        for rec in seg.records():
            out.write(json_record(seg.topic, seg.partition, rec))
        out.flush()
    except Refused as e:
        print("%s: refused: %s" % (path, e), file=sys.stderr)
        return 2
    except KeyProblem as e:
        print("%s: %s" % (path, e), file=sys.stderr)
        return 3
    if seg.problems:
        return 1
    return 3 if seg.crc_only else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
