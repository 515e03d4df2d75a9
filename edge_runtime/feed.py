"""Input plumbing: byte chunks -> lines -> parsed rows -> the stream engine, every rejection counted.

`read_line_batches(fd)` yields the lines that are available now (one os.read of up to 64 KB), so a
file is processed in large batches and a slow pipe row by row, without a timer. A line longer than
`max_line` bytes is dropped as `too_long` (bounded memory even for a stream without newlines).
`Feeder` sniffs the format from the first non-empty line (JSON object, CSV header, or C-MAPSS
text), parses, counts and logs rejections per reason (rate-limited), and flushes full batches.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict

from prognos.edge_runtime.errors import RowError
from prognos.edge_runtime.rows import JsonRowParser, make_parser
from prognos.edge_runtime.stream import StreamEngine

TOO_LONG = object()  # stands for a dropped over-long line
MAX_PAYLOAD = 1 << 20  # bytes of one MQTT message (a JSON list of rows)


def read_line_batches(fd: int, max_line: int = 65536, chunk: int = 65536):
    """Lists of decoded lines from a file descriptor, as they become available; ends at EOF."""
    buf, skipping = b"", False
    while True:
        data = os.read(fd, chunk)
        if not data:
            if buf and not skipping:
                yield [buf.decode("utf-8", "replace")]
            return
        parts = (buf + data).split(b"\n")
        buf = parts.pop()
        lines = []
        for p in parts:
            if skipping:  # the tail of a line already dropped
                skipping = False
            else:
                lines.append(TOO_LONG if len(p) > max_line else p.decode("utf-8", "replace"))
        if len(buf) > max_line:
            if not skipping:
                lines.append(TOO_LONG)
            buf, skipping = b"", True
        if lines:
            yield lines


def _decode(topic: str, payload: bytes):
    if len(payload) > MAX_PAYLOAD:
        raise RowError("too_long", f"topic {topic}: payload of {len(payload)} bytes; limit {MAX_PAYLOAD}")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise RowError("malformed", f"topic {topic}: payload is not valid JSON ({e})") from None


class Feeder:
    """Feeds lines (or MQTT JSON payloads) into an engine; returns (predictions, alert events)."""

    def __init__(self, engine: StreamEngine, log_per_minute: int = 20, log=None):
        self.engine = engine
        self.parser = None
        self.lineno = 0
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._log_limit = log_per_minute
        self._logged = defaultdict(int)
        self._minute = 0

    def items(self, src, stopping=None):
        """Queue items of a text input (a binary file object): ("lines", [...]) as bytes arrive."""
        return (("lines", lines) for lines in read_line_batches(src.fileno(), chunk=16384))

    def feed_lines(self, lines) -> tuple[list, list]:
        """Parse each line, then hand the parsed rows to the engine at once (`StreamEngine.add_rows`)."""
        rows = []
        for line in lines:
            self.lineno += 1
            if line is TOO_LONG:
                self.engine.stats.rows_in += 1
                self._reject(RowError("too_long", f"line {self.lineno}: longer than the line limit; dropped"))
                continue
            if not line.strip():
                continue
            if self.parser is None and self._sniff(line):
                continue
            self.engine.stats.rows_in += 1
            try:
                rows.append(self.parser.parse(line, self.lineno))
            except RowError as e:
                self._reject(e)
        return self._add_rows(rows)

    def _add_rows(self, rows) -> tuple[list, list]:
        preds, events, errors = self.engine.add_rows(rows)
        for e in errors:
            self._reject(e)
        self._flush(preds, events)
        return preds, events

    def _accept(self, add, preds: list, events: list) -> None:
        """Call `add()` (parse + engine.add), counting a RowError; flush when the batch is full."""
        try:
            full = add()
        except RowError as e:
            self._reject(e)
            return
        if full:
            self._flush(preds, events)

    def feed_payloads(self, messages) -> tuple[list, list]:
        """MQTT messages as (topic, payload bytes): a JSON object or a JSON list of objects each."""
        rows = []
        parser = self.parser if isinstance(self.parser, JsonRowParser) else self._json_parser()
        for topic, payload in messages:
            try:
                obj = _decode(topic, payload)
            except RowError as e:
                self.engine.stats.rows_in += 1
                self._reject(e)
                continue
            for i, item in enumerate(obj if isinstance(obj, list) else [obj]):
                self.engine.stats.rows_in += 1
                try:
                    rows.append(parser.parse_obj(item, f"topic {topic} item {i}"))
                except RowError as e:
                    self._reject(e)
        return self._add_rows(rows)

    def _json_parser(self) -> JsonRowParser:
        self.parser = JsonRowParser(*self._row_spec())
        self.parser.warnings = self.engine.stats.warnings
        return self.parser

    def _sniff(self, line: str) -> bool:
        self.parser, header = make_parser(line, *self._row_spec())
        self.parser.warnings = self.engine.stats.warnings
        return header

    def _row_spec(self) -> tuple:
        """(the values a row carries, the (asset, time) column names, whether time is timestamps)"""
        pre = self.engine.pre
        return pre.row_inputs, tuple(pre.table_columns[:2]), self.engine.clock is not None

    def finish(self) -> tuple[list, list]:
        """End of input: the steps still open complete (timestamp bundles) and are predicted."""
        preds, events = [], []
        while self.engine.close_steps():
            self._flush(preds, events)
        return preds, events

    def _flush(self, preds, events) -> None:
        p, e = self.engine.flush()
        preds.extend(p)
        events.extend(e)

    def _reject(self, e: RowError) -> None:
        self.engine.stats.reject(e.reason)
        minute = int(time.monotonic() // 60)
        if minute != self._minute:
            self._minute, self._logged = minute, defaultdict(int)
        self._logged[e.reason] += 1
        n = self._logged[e.reason]
        if n <= self._log_limit:
            self._log(f"prognos-edge: rejected ({e.reason}): {e}")
        elif n == self._log_limit + 1:
            self._log(f"prognos-edge: more '{e.reason}' rejections this minute are counted, not logged")
