"""Makes the bad-input corpus of the robustness tests (nothing is downloaded).

make_corpus(root, good_jpeg) writes hostile and odd files into root/<label>/ and returns
{relative path: expectation}, where an expectation is "ok" (converted and featurized) or
("error", stage) (a row in the errors table with that stage).

Run as a script to write the corpus into a folder:  python make_bad_inputs.py OUT_DIR
"""
import io
import os
import pathlib
import struct
import sys
import zlib

from PIL import Image


def _png_header_only(width, height):
    """A PNG whose IHDR declares width x height, with one tiny (wrong-sized) IDAT."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def make_corpus(root, good_jpeg):
    root = pathlib.Path(root)
    good = pathlib.Path(good_jpeg).read_bytes()
    photo = Image.open(io.BytesIO(good)).convert("RGB")
    files = {
        # Broken files: an error row each.
        "broken/truncated.jpg": (good[: len(good) // 2], ("error", "decode")),
        "broken/empty.jpg": (b"", ("error", "decode")),
        "broken/random.jpg": (bytes((i * 7919 + 13) % 251 for i in range(4096)), ("error", "decode")),
        "broken/readme.txt": (b"this is a text file, not an image\n", ("error", "decode")),
        "broken/bomb.png": (_png_header_only(30000, 30000), ("error", "decode")),
        "broken/palette.gif": (_encode(photo.convert("P"), "GIF"), ("error", "decode")),
        # Odd but valid images: converted and featurized.
        "odd/alpha.png": (_encode(photo.convert("RGBA"), "PNG"), "ok"),
        "odd/gray16.png": (_encode(photo.convert("I;16"), "PNG"), "ok"),
        "odd/gray.jpg": (_encode(photo.convert("L"), "JPEG"), "ok"),
        "odd/cmyk.jpg": (_encode(photo.convert("CMYK"), "JPEG"), "ok"),
        "odd/palette.png": (_encode(photo.convert("P"), "PNG"), "ok"),
        "odd/one_pixel.png": (_encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), "ok"),
        "odd/webp.webp": (_encode(photo, "WEBP"), "ok"),
        "odd/name with spaces ä.jpg": (good, "ok"),
    }
    expectations = {}
    for relative, (data, expected) in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expectations[relative] = expected
    # A file name that is not valid UTF-8: featurized; its path is written with %XX escapes.
    raw = os.path.join(os.fsencode(root / "odd"), b"latin1-\xe9t\xe9.jpg")
    with open(raw, "wb") as handle:
        handle.write(good)
    expectations["odd/latin1-%E9t%E9.jpg"] = "ok"
    # A symlink loop in the tree must not hang or crash the listing.
    os.symlink("..", root / "odd" / "loop")
    # Files that would block the read or never end, and a decode-cost bomb (issue 21): an
    # error row each, without hanging the run.
    os.mkfifo(root / "broken" / "fifo.jpg")
    expectations["broken/fifo.jpg"] = ("error", "read")
    os.symlink("/dev/zero", root / "broken" / "zero.jpg")
    expectations["broken/zero.jpg"] = ("error", "read")
    (root / "broken" / "scans.jpg").write_bytes(many_scans_jpeg(photo, 1000))
    expectations["broken/scans.jpg"] = ("error", "decode")
    return expectations


def _jpeg_segments(data):
    """Splits a JPEG into its marker segments (bytes), each scan with its entropy-coded data."""
    segments, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            segments.append(data[pos:pos + 2])
            break
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        end = pos + 2 + length
        if marker == 0xDA:  # start of scan: the data runs to the next marker that is not
            # a stuffed FF 00 or a restart marker
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        segments.append(data[pos:end])
        pos = end
    return segments


def many_scans_jpeg(image, scans):
    """A valid progressive JPEG of `image` whose last scan is repeated until the file has
    `scans` scans: small in bytes, but every scan is a pass over all of the image's blocks
    (the decode-cost bomb of issue 21)."""
    segments = _jpeg_segments(_encode(image, "JPEG", progressive=True, quality=90))
    scan_list = [segment for segment in segments if segment[1] == 0xDA]
    extra = [scan_list[-1]] * max(0, scans - len(scan_list))
    return b"\xff\xd8" + b"".join(segments[:-1] + extra + segments[-1:])


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1])
    sample = pathlib.Path(__file__).resolve().parents[2] / "data" / "sample" / "Mango"
    corpus = make_corpus(target, sorted(sample.iterdir())[0])
    for name, expected in sorted(corpus.items()):
        print(f"{expected!s:20} {name}")
