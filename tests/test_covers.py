"""Cover thumbnails (render/covers.py), the choice of the cover attachment, the manifest's
[covers] table, and each writer laying out a hand-made Document with covers."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from zotcurate.document import CITATION, COMMENTARY, LINK, CoverLayout, Document, Heading, Paragraph, Picture, Span
from zotcurate.errors import ConfigError
from zotcurate.model import Item
from zotcurate.render.build import choose_cover, cover_pixels
from zotcurate.render.covers import (
    MAX_HEIGHT_RATIO,
    CoverError,
    CoverJob,
    file_digest,
    make_thumbnail,
    make_thumbnails,
)
from zotcurate.render.manifest import parse_manifest
from zotcurate.writers import WRITERS
from zotcurate.writers.base import WriteOptions
from zotcurate.writers.markdown import to_markdown
from zotcurate.writers.pdf import to_typst


def pdf_bytes(size: tuple[int, int] = (595, 842), resolution: float = 72.0, colour: str = "navy") -> bytes:
    im = Image.new("RGB", size, "white")
    ImageDraw.Draw(im).rectangle((10, 10, size[0] // 2, size[1] // 3), fill=colour)
    buf = io.BytesIO()
    im.save(buf, "PDF", resolution=resolution)
    return buf.getvalue()


# -- thumbnails ----------------------------------------------------------------------------


def test_first_page_scaled_to_the_width_and_cached_by_hash(tmp_path: Path) -> None:
    src = tmp_path / "a.pdf"
    src.write_bytes(pdf_bytes())
    cache = tmp_path / "cache"
    thumb = make_thumbnail(src, "application/pdf", cache, 236)
    assert (thumb.width, thumb.height) == (236, 334)  # A4's proportions
    assert thumb.path == cache / f"{file_digest(src)}-w236.jpg"
    with Image.open(thumb.path) as im:
        assert im.format == "JPEG" and im.size == (236, 334)
        assert im.getpixel((20, 20))[2] > 100 and im.getpixel((200, 300)) > (240, 240, 240)  # navy band, white page
    stamp = thumb.path.stat().st_mtime_ns
    src.unlink()  # the cached thumbnail is found by the hash alone: the PDF is not read again
    again = make_thumbnail(tmp_path / "a.pdf", "application/pdf", cache, 236, digest=file_digest_of(thumb.path))
    assert again == thumb and thumb.path.stat().st_mtime_ns == stamp


def file_digest_of(thumb: Path) -> str:
    return thumb.name.split("-w")[0]


def test_truncated_pdf_is_a_cover_error_not_a_crash(tmp_path: Path) -> None:
    data = pdf_bytes()
    for n, cut in enumerate((len(data) // 3, 40, 0)):
        src = tmp_path / f"cut{n}.pdf"
        src.write_bytes(data[:cut])
        with pytest.raises(CoverError, match="not a PDF that can be read"):
            make_thumbnail(src, "application/pdf", tmp_path / "cache", 200)
    assert not list((tmp_path / "cache").glob("*.jpg"))


def test_a_huge_page_gives_a_bounded_image(tmp_path: Path) -> None:
    # 100 × 4000 pixels at 0.01 dpi: a page 720,000 pt wide and 28.8 million pt tall.
    src = tmp_path / "huge.pdf"
    src.write_bytes(pdf_bytes((100, 4000), resolution=0.01))
    thumb = make_thumbnail(src, "application/pdf", tmp_path / "cache", 236)
    assert thumb.height <= 236 * MAX_HEIGHT_RATIO and thumb.width <= 236
    assert thumb.path.stat().st_size < 200_000


def test_images_are_covers_too_and_transparency_goes_white(tmp_path: Path) -> None:
    src = tmp_path / "cover.png"
    im = Image.new("RGBA", (400, 600), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((0, 0, 399, 100), fill=(200, 0, 0, 255))
    im.save(src)
    thumb = make_thumbnail(src, "image/png", tmp_path / "cache", 100)
    assert (thumb.width, thumb.height) == (100, 150)
    with Image.open(thumb.path) as out:
        assert out.getpixel((50, 120)) > (245, 245, 245) and out.getpixel((50, 5))[0] > 180


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_an_image_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    src = tmp_path / "bomb.png"
    src.write_bytes(_png_header(30000, 30000))  # 900 million pixels claimed, a few bytes given
    with pytest.raises(CoverError, match="too large"):
        make_thumbnail(src, "image/png", tmp_path / "cache", 200)


def test_other_types_and_missing_files_are_cover_errors(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(CoverError, match="only PDFs and images"):
        make_thumbnail(html, "text/html", tmp_path / "cache", 200)
    with pytest.raises(CoverError, match="cannot be read"):
        make_thumbnail(tmp_path / "gone.pdf", "application/pdf", tmp_path / "cache", 200)
    with pytest.raises(CoverError, match="missing"):
        make_thumbnail(tmp_path / "gone.pdf", "application/pdf", tmp_path / "cache", 200, digest="ab" * 16)


@pytest.mark.parametrize("workers", [1, 2])
def test_many_thumbnails_at_once_with_failures_reported(tmp_path: Path, workers: int) -> None:
    jobs = []
    for i in range(30):
        src = tmp_path / f"{i}.pdf"
        src.write_bytes(pdf_bytes(colour=(i * 8, 0, 0)) if i % 10 else b"%PDF-1.4 broken")
        jobs.append(CoverJob(f"K{i:02d}", src, "application/pdf"))
    done, failed = make_thumbnails(jobs, tmp_path / "cache", 120, workers=workers)
    assert sorted(failed) == ["K00", "K10", "K20"] and len(done) == 27
    assert all(t.width == 120 and t.path.is_file() for t in done.values())
    jobs2 = [CoverJob(j.key, j.source, j.content_type, file_digest(j.source)) for j in jobs]
    again, _ = make_thumbnails(jobs2, tmp_path / "cache", 120, workers=workers)
    assert again == done


# -- which attachment -------------------------------------------------------------------------


def _attachment(key: str, ctype: str, tags: tuple[str, ...] = (), added: str = "2024-01-01") -> Item:
    return Item(key, 1, "attachment", "PARENT01", False,
                {"data": {"itemType": "attachment", "contentType": ctype, "dateAdded": added,
                          "tags": [{"tag": t} for t in tags]}})


def _row(key: str, ctype: str) -> dict:
    return {"item_key": key, "status": "stored", "path": f"xx/{key}", "content_type": ctype}


def test_the_tagged_attachment_wins_else_the_first_pdf_else_an_image() -> None:
    snap = _attachment("SNAP0001", "text/html", added="2023-01-01")
    pdf_late = _attachment("PDF00002", "application/pdf", added="2024-06-01")
    pdf_early = _attachment("PDF00001", "application/pdf", added="2024-02-01")
    image = _attachment("IMG00001", "image/png", added="2020-01-01")
    tagged = _attachment("IMG00002", "image/jpeg", ("zotcurate:cover",), added="2025-01-01")
    rows = {a.key: _row(a.key, str(a.data["contentType"])) for a in (snap, pdf_late, pdf_early, image, tagged)}
    pick = choose_cover([snap, pdf_late, pdf_early, image, tagged], rows)
    assert pick is not None and pick[0].key == "IMG00002"
    pick = choose_cover([snap, pdf_late, pdf_early, image], rows)
    assert pick is not None and pick[0].key == "PDF00001"
    pick = choose_cover([snap, image], rows)
    assert pick is not None and pick[0].key == "IMG00001"
    assert choose_cover([snap], rows) is None
    not_downloaded = {k: {**r, "status": "too-large"} for k, r in rows.items()}
    assert choose_cover([pdf_early], not_downloaded) is None


# -- the manifest ---------------------------------------------------------------------------------


def test_manifest_covers_table(tmp_path: Path) -> None:
    m = parse_manifest('[covers]\nenabled = true\nwidth = "25mm"\n', tmp_path / "bib.toml")
    assert m.covers.enabled and m.covers.width_mm == 25 and m.covers.position == "left"
    assert parse_manifest('[covers]\nwidth = "1in"\n', tmp_path / "bib.toml").covers.width_mm == 25.4
    assert not parse_manifest("", tmp_path / "bib.toml").covers.enabled
    assert cover_pixels(30) == 236
    for bad, what in (('width = "3"', "covers.width"), ('width = "40cm"', "covers.width"),
                      ('position = "right"', "covers.position"), ("enabled = 1", "covers.enabled"),
                      ("size = 3", "covers.size")):
        with pytest.raises(ConfigError, match=re.escape(f"'{what}'")):
            parse_manifest(f"[covers]\n{bad}\n", tmp_path / "bib.toml")


# -- writers on a hand-made Document ----------------------------------------------------------------


@pytest.fixture
def covered(tmp_path: Path) -> Document:
    src = tmp_path / "c.pdf"
    src.write_bytes(pdf_bytes())
    thumb = make_thumbnail(src, "application/pdf", tmp_path / "cache", 120)
    pic = Picture(str(thumb.path), thumb.width, thumb.height, alt='Titre <b>"x"</b> & *y*',
                  url="https://example.org/doc?a=1&b=2", name="KEY00001.jpg")
    blocks: list = [Heading(1, [Span("Partie")], anchor="P1")]
    for key, image in (("KEY00001", pic), ("KEY00002", None)):
        blocks += [Paragraph([Span(f"Citation {key}")], role=CITATION, key=key, image=image),
                   Paragraph([Span("Accéder au document", url="https://example.org/doc")], role=LINK, key=key),
                   Paragraph([Span("Commentaire.")], role=COMMENTARY, key=key)]
    return Document(title="T", blocks=blocks, covers=CoverLayout(25))


def test_markdown_escapes_the_alt_text_and_copies_the_image(covered: Document, tmp_path: Path) -> None:
    text = to_markdown(covered, "T-covers")
    assert "[![Titre \\<b\\>\"x\"\\</b\\> & \\*y\\*](<T-covers/KEY00001.jpg>)](<https://example.org/doc?a=1&b=2>)" in text
    assert text.count("![") == 1
    out = WRITERS["md"].write(covered, tmp_path / "T.md", WriteOptions())
    assert (tmp_path / "T-covers" / "KEY00001.jpg").read_bytes() == Path(covered.blocks[1].image.path).read_bytes()
    assert "T-covers/KEY00001.jpg" in out.read_text(encoding="utf-8")
    plain = Document(title="T", blocks=covered.blocks)  # covers off: no image, no folder
    assert "![" not in to_markdown(plain)


def test_typst_source_keeps_user_text_in_strings(covered: Document) -> None:
    src = to_typst(covered)
    assert 'zc-cover("zc-covers/KEY00001.jpg", alt: "Titre <b>\\"x\\"</b> & *y*", url: "https://example.org/doc?a=1&b=2")' in src
    assert src.count("cover-width: 25mm") == 2 and src.count("cover: none") == 1


def test_html_embeds_and_escapes(covered: Document) -> None:
    from zotcurate.writers.html import to_html

    page = to_html(covered)
    assert 'alt="Titre &lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; *y*"' in page
    assert '<a href="https://example.org/doc?a=1&amp;b=2"><img src="data:image/jpeg;base64,' in page
    assert "grid-template-columns: 25mm" in page


def test_a_javascript_url_never_becomes_the_covers_link(covered: Document) -> None:
    from zotcurate.writers.html import to_html

    block = covered.blocks[1]
    block.image = Picture(block.image.path, 10, 10, alt="a", url="javascript:alert(1)", name="KEY00001.jpg")
    assert "javascript:" not in to_html(covered) and "javascript:" not in to_typst(covered)


def test_every_format_writes_a_covered_document(covered: Document, tmp_path: Path) -> None:
    for name, writer in WRITERS.items():
        path = writer.write(covered, tmp_path / f"doc{writer.suffix}", WriteOptions())
        assert path.stat().st_size > 0, name
