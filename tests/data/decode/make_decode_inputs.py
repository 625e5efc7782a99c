"""Writes the small images of tests/data/decode (decode_test.cc's DecodeOracleTest).

Each is an odd case of a format orchard decodes: CMYK JPEG, EXIF orientations, palette,
16-bit, grayscale+alpha and 1- and 4-bit PNG, WebP with alpha, BMP of every bit depth.
Run with the project environment's Python (pillow): .deps/venv/bin/python make_decode_inputs.py
"""
import io
import pathlib
import struct

from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
WIDTH, HEIGHT = 37, 23  # odd sizes: row padding, chroma subsampling edges


def photo():
    """A deterministic colourful image with gradients and hard edges."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    image.putdata([((x * 7 + y * 3) % 256, (x * y * 5) % 256, (255 - x * 6 + y * 11) % 256)
                   for y in range(HEIGHT) for x in range(WIDTH)])
    return image


def save(name, image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    (HERE / name).write_bytes(buffer.getvalue())


def exif_with_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def bmp_16bit_565(image):
    """A BI_BITFIELDS RGB565 BMP (Pillow writes no 16-bit BMP)."""
    width, height = image.size
    stride = (width * 2 + 3) // 4 * 4
    rows = []
    for y in reversed(range(height)):
        row = b"".join(struct.pack("<H", ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3))
                       for r, g, b in (image.getpixel((x, y)) for x in range(width)))
        rows.append(row + b"\0" * (stride - len(row)))
    pixels = b"".join(rows)
    offset = 14 + 40 + 12
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 16, 3, len(pixels), 2835, 2835, 0, 0)
    masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F)
    return header + info + masks + pixels


def main():
    rgb = photo()
    save("cmyk.jpg", rgb.convert("CMYK"), "JPEG", quality=90)
    save("gray.jpg", rgb.convert("L"), "JPEG", quality=90)
    save("progressive.jpg", rgb, "JPEG", quality=85, progressive=True)
    save("subsampled420.jpg", rgb, "JPEG", quality=80, subsampling=2)
    for value in range(1, 9):
        save(f"orientation{value}.jpg", rgb, "JPEG", quality=90, exif=exif_with_orientation(value))
    save("orientation6.png", rgb, "PNG", exif=exif_with_orientation(6))
    save("orientation6.webp", rgb, "WEBP", lossless=True, exif=exif_with_orientation(6))
    save("palette.png", rgb.convert("P"), "PNG")
    palette_alpha = rgb.convert("P")
    palette_alpha.info["transparency"] = 3
    save("palette_transparency.png", palette_alpha, "PNG", transparency=3)
    save("gray_alpha.png", rgb.convert("LA"), "PNG")
    save("rgba.png", rgb.convert("RGBA"), "PNG")
    save("gray16.png", rgb.convert("L").convert("I").point(lambda v: v * 257).convert("I;16"), "PNG")
    save("gray1.png", rgb.convert("1"), "PNG")
    save("palette4.png", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", bits=4)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    save("alpha_lossless.webp", rgba, "WEBP", lossless=True)
    save("alpha_lossy.webp", rgba, "WEBP", quality=80)
    save("lossy.webp", rgb, "WEBP", quality=80)
    save("rgb24.bmp", rgb, "BMP")
    save("rgba32.bmp", rgba, "BMP")
    save("palette8.bmp", rgb.convert("P"), "BMP")
    save("mono1.bmp", rgb.convert("1"), "BMP")
    (HERE / "rgb565.bmp").write_bytes(bmp_16bit_565(rgb))


if __name__ == "__main__":
    main()
