"""A bar chart as a PNG file with nothing but the standard library (zlib + a 3x5 pixel font), so
`make bench` can draw its plot without matplotlib: rows of labelled horizontal bars scaled
against a goal line, and one stacked bar for the phase split of a pod run.
"""

from __future__ import annotations

import struct
import zlib

# 3x5 glyphs, rows top to bottom, '1' = ink
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001010010010", "8": "111101111101111",
    "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011",
    "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    " ": "000000000000000", ".": "000000000000010", ":": "000010000010000",
    "/": "001001010100100", "-": "000000111000000", "+": "000010111010000",
    "=": "000111000111000", "(": "010100100100010", ")": "010001001001010",
    "<": "001010100010001", ">": "100010001010100", ",": "000000000010100",
    "%": "101001010100101", "_": "000000000000111",
}
COLORS = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188),
          (0, 172, 193), (255, 112, 67), (158, 157, 36), (92, 107, 192), (120, 144, 156)]


class Canvas:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, color) -> None:
        for yy in range(max(0, y), min(self.height, y + h)):
            start = (yy * self.width + max(0, x)) * 3
            end = (yy * self.width + min(self.width, x + w)) * 3
            if end > start:
                self.pixels[start:end] = bytes(color) * ((end - start) // 3)

    def text(self, x: int, y: int, text: str, color=(0, 0, 0), scale: int = 2) -> None:
        for ch in text.upper():
            glyph = _FONT.get(ch, _FONT[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    self.rect(x + (i % 3) * scale, y + (i // 3) * scale, scale, scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.pixels[y * self.width * 3:(y + 1) * self.width * 3])
                       for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def chart(rows: list[tuple[str, float, str]], phases: dict[str, float], title: str) -> bytes:
    """`rows`: (label, value/goal, printed value); bars are drawn to 3x the goal at most, the
    goal is the vertical line. `phases`: name -> ms, drawn as one stacked bar with a legend."""
    label_w, bar_w, row_h, top = 360, 420, 22, 40
    legend_rows = (len(phases) + 2) // 3
    height = top + row_h * len(rows) + 60 + 18 * legend_rows + 20
    c = Canvas(label_w + bar_w + 180, height)
    c.text(10, 10, title, scale=3)
    scale = bar_w / 3.0
    for i, (label, ratio, shown) in enumerate(rows):
        y = top + i * row_h
        c.text(10, y + 4, label[:44])
        color = (15, 157, 88) if ratio <= 1.0 else (219, 68, 55)
        c.rect(label_w, y + 2, int(min(ratio, 3.0) * scale), row_h - 6, color)
        c.text(label_w + bar_w + 10, y + 4, shown)
    c.rect(label_w + int(scale), top - 4, 2, row_h * len(rows) + 4, (0, 0, 0))
    y = top + row_h * len(rows) + 16
    c.text(10, y, "RKT RUN PHASES (MS)")
    total = sum(phases.values()) or 1.0
    x = label_w
    for i, (name, ms) in enumerate(phases.items()):
        w = int(bar_w * ms / total)
        c.rect(x, y - 4, w, 16, COLORS[i % len(COLORS)])
        x += w
    for i, (name, ms) in enumerate(phases.items()):
        lx, ly = 10 + (i % 3) * 260, y + 24 + (i // 3) * 18
        c.rect(lx, ly, 10, 10, COLORS[i % len(COLORS)])
        c.text(lx + 14, ly, f"{name} {ms:.0f}")
    return c.png()
