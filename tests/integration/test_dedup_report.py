"""`orchard dedup`'s page, DUP/report/index.html (issue 25): the largest groups (or the
matches of --against) with inline thumbnails read from the images the output was made
from; an image that cannot be read (garbage, deleted, a FIFO) gets a placeholder and never
fails the job; the page is bounded (50 groups, 8 members, 100 matches) and self-contained.
"""
import base64
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import SAMPLE, run_orchard

SCHEMA = pa.schema([pa.field("path", pa.string(), nullable=False),
                    pa.field("label", pa.string(), nullable=False),
                    pa.field("features", pa.list_(pa.float32()), nullable=False)])


class Page(HTMLParser):
    """The page's groups (h3 headings), members (with their thumbnail or placeholder)."""

    def __init__(self, text):
        super().__init__()
        self.headings, self.images, self.missing, self.members, self.scripts = [], [], [], 0, 0
        self.sources, self._in_h3 = [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "h3":
            self._in_h3 = True
            self.headings.append("")
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if "member" in classes:
            self.members += 1
        if "missing" in classes:
            self.missing.append(attrs.get("title", ""))

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False

    def handle_data(self, data):
        if self._in_h3:
            self.headings[-1] += data


def thumbnails(page):
    """The inline JPEGs, opened."""
    out = []
    for src in page.sources:
        prefix = "data:image/jpeg;base64,"
        assert src.startswith(prefix), src[:60]
        out.append(Image.open(io.BytesIO(base64.b64decode(src[len(prefix):], validate=True))))
    return out


def write_output(folder, vectors, prefix):
    (folder / "features").mkdir(parents=True)
    table = pa.table({"path": [f"{prefix}/{i:04d}.jpg" for i in range(len(vectors))],
                      "label": [prefix] * len(vectors),
                      "features": [list(map(float, v)) for v in vectors]}, schema=SCHEMA)
    pq.write_table(table, folder / "features" / "part-00000.parquet")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The sample plus near-copies of 3 images (re-encoded, resized); run; then two of the
    copies are made unreadable (garbage bytes, a FIFO) and one deleted."""
    root = tmp_path_factory.mktemp("dedup_report")
    images = root / "images"
    shutil.copytree(SAMPLE, images)
    copies = []
    for label in sorted(p.name for p in images.iterdir())[:3]:
        original = sorted((images / label).iterdir())[0]
        with Image.open(original) as img:
            img = img.convert("RGB")
            for idx in range(3):
                copy = original.with_name(f"copy{idx}.jpg")
                img.resize((img.width * (10 - idx) // 10, img.height * (10 - idx) // 10)).save(
                    copy, quality=90)
                copies.append(copy)
    out = root / "out"
    run_orchard("run", "-i", images, "-o", out, "-q")
    copies[0].write_bytes(b"\xff\xd8 not a jpeg any more")
    copies[1].unlink()
    copies[2].unlink()
    os.mkfifo(copies[2])  # never opened: a read would block
    dup = root / "dup"
    summary = json.loads(run_orchard("dedup", "-i", out, "-o", dup, "-q", "--json").stdout)
    return {"root": root, "out": out, "dup": dup, "summary": summary, "copies": copies}


def test_page_shows_the_groups_with_thumbnails_and_placeholders(planted):
    text = (planted["dup"] / "report" / "index.html").read_text()
    page = Page(text)
    summary = planted["summary"]
    assert summary["groups"] >= 3
    assert len(page.headings) == summary["groups"]  # under 50: all of them
    sizes = np.bincount(pq.read_table(planted["dup"] / "duplicates.parquet")["group"].to_numpy())
    assert page.members == sum(min(int(size), 8) for size in sizes)  # at most 8 a group
    # The three unreadable copies are placeholders saying why; every other member a JPEG
    # thumbnail of at most 64 pixels a side.
    assert len(page.missing) == 3, page.missing
    assert any("cannot show it" in reason for reason in page.missing)
    assert any("cannot read it" in reason for reason in page.missing)
    shown = thumbnails(page)
    assert len(shown) == page.members - 3
    for image in shown:
        assert image.format == "JPEG" and max(image.size) <= 64
    # Every planted copy is grouped; the unreadable ones are the placeholders.
    grouped = set(pq.read_table(planted["dup"] / "duplicates.parquet")["path"].to_pylist())
    for copy in planted["copies"]:
        assert f"{copy.parent.name}/{copy.name}" in grouped
    for copy in planted["copies"][:3]:
        assert f"{copy.parent.name}/{copy.name}" in text
    # Self-contained, nothing that runs or loads.
    assert "Content-Security-Policy" in text and page.scripts == 0
    assert not re.search(r"(src|href)=\"(https?:|//)", text)


def test_page_is_bounded_and_without_images_root_says_so(tmp_path):
    # 30 groups of 10 near-copies and 30 of 3; no report/summary.json: no images root.
    rng = np.random.default_rng(3)
    vectors = []
    for group in range(60):
        centre = rng.normal(size=32)
        for _ in range(10 if group < 30 else 3):
            vectors.append(centre + 1e-3 * rng.normal(size=32))
    write_output(tmp_path / "out", np.array(vectors, dtype=np.float32), "synthetic")
    summary = json.loads(run_orchard("dedup", "-i", tmp_path / "out", "-o", tmp_path / "dup",
                                     "-q", "--json", "-k", 12).stdout)
    assert summary["groups"] == 60
    page = Page((tmp_path / "dup" / "report" / "index.html").read_text())
    assert len(page.headings) == 50
    # Largest first: the 30 groups of 10 (8 shown each), then 20 of 3.
    assert all("10 images (8 shown)" in heading for heading in page.headings[:30])
    assert all(heading.endswith("3 images") for heading in page.headings[30:])
    assert page.members == 30 * 8 + 20 * 3
    assert page.sources == [] and len(page.missing) == page.members
    assert all("images' folder is unknown" in reason for reason in page.missing)


def test_against_page_shows_the_closest_matches(tmp_path):
    rng = np.random.default_rng(4)
    base = rng.normal(size=(150, 32)).astype(np.float32)
    write_output(tmp_path / "a", base, "a")
    # Copies at growing distances: the page lists the closest 100 first.
    noise = np.linspace(1e-4, 1e-2, 150, dtype=np.float32)[:, None]
    write_output(tmp_path / "b", base + noise * rng.normal(size=(150, 32)).astype(np.float32),
                 "b")
    summary = json.loads(run_orchard("dedup", "-i", tmp_path / "a", "-o", tmp_path / "dup",
                                     "--against", tmp_path / "b", "-q", "--json").stdout)
    assert summary["matched_rows"] == 150
    text = (tmp_path / "dup" / "report" / "index.html").read_text()
    page = Page(text)
    assert page.members == 2 * 100
    assert "The 100 closest of 150 matches" in text
    distances = [float(d) for d in re.findall(r"class=\"muted\">distance (\d\.\d+)", text)]
    assert len(distances) == 200 and distances == sorted(distances)
