"""Cover thumbnails: the first page of a PDF, or an image, scaled to a width and cached by file hash.

The only module that imports pypdfium2 (PDF rendering, a self-contained wheel) and Pillow
(image decoding, scaling and JPEG encoding).

Files come from colleagues' Zotero libraries, so they are treated as hostile: a file that
cannot be read gives a :class:`CoverError` with one sentence (the render warns and prints the
entry without its cover), never a crash; the rendered size is bounded whatever page size a PDF
claims (at most ``MAX_HEIGHT_RATIO`` times the width), and an image with more than
``MAX_SOURCE_PIXELS`` pixels is refused before it is decoded.

A thumbnail is written once per (file hash, width) into the cache folder, through a temporary
file renamed into place, so concurrent renders never see half a thumbnail; the next render
finds it there and reads only its header.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

MAX_HEIGHT_RATIO = 3.0  # a cover is about 1.4 times as tall as wide; a taller page is scaled to fit this
MAX_SOURCE_PIXELS = 50_000_000  # an image attachment larger than this is refused (a decompression bomb)
MAX_WIDTH_PX = 1200
JPEG_QUALITY = 82
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp")
PDF_TYPE = "application/pdf"
# Below this many thumbnails to make, worker processes cost more than they save.
PARALLEL_FROM = 24

# pdfium is not thread-safe: within one process, one rendering at a time.
_PDFIUM = threading.Lock()


class CoverError(Exception):
    """A file that gives no thumbnail; the message is one sentence about the file."""


@dataclass(frozen=True)
class Thumbnail:
    path: Path
    width: int  # pixels
    height: int
    mime: str = "image/jpeg"


@dataclass(frozen=True)
class CoverJob:
    """One thumbnail to have: ``key`` is the caller's (the item key), ``digest`` the file's hash if known."""

    key: str
    source: Path
    content_type: str
    digest: str | None = None


def can_cover(content_type: str) -> bool:
    """Whether a file of this type can give a cover (a PDF or an image)."""
    return content_type.lower() == PDF_TYPE or content_type.lower() in IMAGE_TYPES


def file_digest(path: Path) -> str:
    """The file's MD5 (Zotero's own file hash), read in blocks."""
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _bounded_size(width: float, height: float, target: int) -> tuple[int, int, float]:
    """Pixel size and scale for a page of ``width`` × ``height`` at ``target`` pixels wide, the
    height bounded to ``MAX_HEIGHT_RATIO`` × target (a 1 pt × 10 m page stays a small image)."""
    if not (width > 0 and height > 0):
        raise CoverError("its first page has no size")
    scale = min(target / width, target * MAX_HEIGHT_RATIO / height)
    return max(1, round(width * scale)), max(1, round(height * scale)), scale


def _pdfium_reason(exc: Exception) -> str:
    """pdfium's reason in a few words: "Failed to load document (PDFium: Data format error)." → "data format error"."""
    text = str(exc)
    inner = text.rsplit("PDFium:", 1)[-1] if "PDFium:" in text else text
    return inner.strip(" ().").lower() or type(exc).__name__


def _render_pdf(source: Path, target: int) -> Image.Image:
    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(str(source))
        except pdfium.PdfiumError as exc:
            raise CoverError(f"it is not a PDF that can be read ({_pdfium_reason(exc)})") from exc
        try:
            if len(pdf) == 0:
                raise CoverError("it has no pages")
            page = pdf[0]
            try:
                width, height = page.get_size()
                px_w, px_h, scale = _bounded_size(width, height, target)
                bitmap = page.render(scale=scale, may_draw_forms=False, crop=(0, 0, 0, 0))
                try:
                    image = bitmap.to_pil().convert("RGB")
                finally:
                    bitmap.close()
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            raise CoverError(f"its first page cannot be drawn ({_pdfium_reason(exc)})") from exc
        finally:
            pdf.close()
    if image.size != (px_w, px_h):
        image = image.resize((px_w, px_h), Image.Resampling.LANCZOS)
    return image


def _render_image(source: Path, target: int) -> Image.Image:
    try:
        with Image.open(source) as im:
            w, h = im.size
            if w * h > MAX_SOURCE_PIXELS:
                raise CoverError(f"the image is too large to read ({w} × {h} pixels)")
            px_w, px_h, _ = _bounded_size(w, h, target)
            im.draft("RGB", (px_w, px_h))  # JPEG: decode at a reduced size straight away
            frame = im.convert("RGBA") if im.mode in ("P", "LA", "RGBA", "PA") else im.convert("RGB")
            if frame.mode == "RGBA":  # transparency on white, as on a page
                flat = Image.new("RGB", frame.size, "white")
                flat.paste(frame, mask=frame.getchannel("A"))
                frame = flat
            return frame.resize((px_w, px_h), Image.Resampling.LANCZOS)
    except CoverError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard, for sizes far beyond ours
        raise CoverError("the image is too large to read") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CoverError(f"it is not an image that can be read ({type(exc).__name__})") from exc


def cached_path(cache_dir: Path, digest: str, width: int) -> Path:
    return cache_dir / f"{digest}-w{width}.jpg"


def _read_cached(path: Path) -> Thumbnail | None:
    try:
        with Image.open(path) as im:  # reads the header only
            return Thumbnail(path, im.size[0], im.size[1])
    except (OSError, UnidentifiedImageError):
        return None


def make_thumbnail(source: Path, content_type: str, cache_dir: Path, width: int,
                   digest: str | None = None) -> Thumbnail:
    """The thumbnail of ``source`` at ``width`` pixels, from the cache or made now; CoverError otherwise."""
    width = max(16, min(int(width), MAX_WIDTH_PX))
    kind = content_type.lower()
    if not can_cover(kind):
        raise CoverError(f"a {content_type or 'file of unknown type'} gives no cover (only PDFs and images do)")
    try:
        digest = digest or file_digest(source)
    except OSError as exc:
        raise CoverError(f"the file cannot be read ({exc.strerror or exc})") from exc
    target = cached_path(cache_dir, digest, width)
    if target.is_file():
        found = _read_cached(target)
        if found is not None:
            return found
    if not source.is_file():
        raise CoverError("the file is missing (run 'zotcurate sync --files')")
    image = _render_pdf(source, width) if kind == PDF_TYPE else _render_image(source, width)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".thumb-", suffix=".jpg", dir=cache_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        image.save(tmp, "JPEG", quality=JPEG_QUALITY, optimize=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return Thumbnail(target, image.size[0], image.size[1])


def _job(job: CoverJob, cache_dir: Path, width: int) -> tuple[str, Thumbnail | None, str | None]:
    try:
        return job.key, make_thumbnail(job.source, job.content_type, cache_dir, width, job.digest), None
    except CoverError as exc:
        return job.key, None, str(exc)
    except Exception as exc:  # a hostile file must never stop a render: report it, go on
        return job.key, None, f"it could not be read ({type(exc).__name__})"


def make_thumbnails(jobs: Sequence[CoverJob], cache_dir: Path, width: int,
                    workers: int | None = None) -> tuple[dict[str, Thumbnail], dict[str, str]]:
    """Thumbnails for every job: ``({key: thumbnail}, {key: why there is none})``.

    Cached ones are only looked up; the others are made in worker processes when there are
    many (pdfium renders one page at a time per process)."""
    done: dict[str, Thumbnail] = {}
    failed: dict[str, str] = {}
    todo: list[CoverJob] = []
    clamped = max(16, min(int(width), MAX_WIDTH_PX))
    for job in jobs:
        if job.digest:
            found = cached_path(cache_dir, job.digest, clamped)
            if found.is_file():
                thumb = _read_cached(found)
                if thumb is not None:
                    done[job.key] = thumb
                    continue
        todo.append(job)
    n = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if n > 1 and len(todo) >= PARALLEL_FROM:
        with ProcessPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(_job, todo, [cache_dir] * len(todo), [width] * len(todo),
                                    chunksize=max(1, len(todo) // (n * 4))))
    else:
        results = [_job(job, cache_dir, width) for job in todo]
    for key, thumb, why in results:
        if thumb is not None:
            done[key] = thumb
        else:
            failed[key] = why or "it could not be read"
    return done, failed


__all__ = ["IMAGE_TYPES", "PDF_TYPE", "CoverError", "CoverJob", "Thumbnail", "can_cover", "file_digest",
           "make_thumbnail", "make_thumbnails"]
