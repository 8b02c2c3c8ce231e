"""Issue 14 end to end: attachment files synced from the test server (its file requests redirect
to a second loopback server, standing for Zotero's file storage), then covers in every format.
Every PDF is made by the test itself; every server is on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import unquote

import html5lib
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from conftest import TEST_API_KEY, TEST_GROUP_ID
from zotcurate.cli import main
from zotcurate.errors import ExitCode
from zotcurate.store import Store
from zotero_server import FakeZotero, FileStorage

LIB = f"group:{TEST_GROUP_ID}"
COLOURS = [(200, 30, 30), (30, 140, 60), (30, 60, 200)]


def make_pdf(colour: tuple[int, int, int], text: str = "Rapport") -> bytes:
    """A one-page A4 PDF (595 × 842 pt): a coloured band and a title, as a cover."""
    im = Image.new("RGB", (595, 842), "white")
    draw = ImageDraw.Draw(im)
    draw.rectangle((40, 60, 555, 360), fill=colour)
    draw.text((60, 400), text, fill="black")
    buf = io.BytesIO()
    im.save(buf, "PDF", resolution=72)
    return buf.getvalue()


def env_for(server: FakeZotero, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ZOTERO_API_KEY": TEST_API_KEY, "ZOTCURATE_API_URL": server.url,
            "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"), "ZOTCURATE_CONFIG": str(tmp_path / "config.toml"),
            **extra}


def run(server: FakeZotero, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args), env=env_for(server, tmp_path))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def storage(zotero_server: FakeZotero):
    store = FileStorage().start()
    zotero_server.storage = store
    try:
        yield store
    finally:
        store.stop()


def add_group_items(server: FakeZotero, n_with: int = 3, n_without: int = 1) -> dict[str, str]:
    """``n_with`` reports with a PDF attachment each, ``n_without`` with none, all in one collection;
    returns {title: item key}."""
    coll = server.put_collection(server.prefix, {"name": "Numérique et santé"})["key"]
    keys: dict[str, str] = {}
    for i in range(n_with + n_without):
        title = f"Rapport numéro {i + 1}"
        item = server.put_item(server.prefix, {"itemType": "report", "title": title, "date": f"2024-0{i + 1}",
                                               "url": f"https://example.org/rapport-{i + 1}",
                                               "creators": [{"creatorType": "author", "lastName": "AUTEUR",
                                                             "firstName": "Prénom"}],
                                               "abstractNote": f"Ce rapport {i + 1} présente des résultats.",
                                               "collections": [coll]})
        keys[title] = item["key"]
        if i < n_with:
            att = server.put_item(server.prefix, {"itemType": "attachment", "parentItem": item["key"],
                                                  "linkMode": "imported_file", "title": "PDF",
                                                  "contentType": "application/pdf", "filename": f"rapport-{i + 1}.pdf"})
            server.put_file(server.prefix, att["key"], make_pdf(COLOURS[i % 3], title))
        else:  # a web link only: nothing to download
            server.put_item(server.prefix, {"itemType": "attachment", "parentItem": item["key"],
                                            "linkMode": "linked_url", "title": "Site", "url": "https://example.org/"})
    return keys


def norm(text: str) -> str:
    """Text with French typography's no-break spaces as plain spaces (titles get them before a number)."""
    return text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2011", "-")


def stored_files(tmp_path: Path) -> dict[str, dict]:
    with Store(tmp_path / "store.sqlite") as store:
        return store.attachment_files(store.require_library(LIB))


# -- the "done when" ------------------------------------------------------------------


def test_done_when_three_files_then_none_and_three_covers_in_every_format(zotero_server, storage, tmp_path,
                                                                         capsys) -> None:
    server = zotero_server
    keys = add_group_items(server)
    code, out, err = run(server, tmp_path, capsys, "sync", "--library", LIB, "--files")
    assert code == ExitCode.OK, err
    assert f"{LIB} files: 3 files downloaded, 0 unchanged" in out
    rows = stored_files(tmp_path)
    assert sorted(r["status"] for r in rows.values()) == ["stored"] * 3
    folder = tmp_path / "store-files"
    for row in rows.values():
        path = folder / row["path"]
        assert path.is_file() and hashlib.md5(path.read_bytes()).hexdigest() == row["md5"] == row["content_md5"]
        assert row["path"] == f"{row['md5'][:2]}/{row['md5']}.pdf"  # content-addressed
    assert len(storage.requests) == 3
    # The API saw the key; the storage host never did, in no header, path or query.
    file_requests = [r for r in server.requests if r.path.endswith("/file")]
    assert len(file_requests) == 3 and all(r.status == 302 for r in file_requests)
    assert all(TEST_API_KEY in (r.headers.get("zotero-api-key", "") + r.headers.get("authorization", ""))
               for r in file_requests)
    assert not storage.saw(TEST_API_KEY)
    assert not storage.saw("Bearer") and all("zotero-api-key" not in r.headers for r in storage.requests)

    # A second sync downloads nothing.
    server.reset_requests()
    code, out, err = run(server, tmp_path, capsys, "sync", "--library", LIB, "--files")
    assert code == ExitCode.OK, err
    assert "0 files downloaded, 3 unchanged" in out
    assert len(storage.requests) == 3 and not [r for r in server.requests if r.path.endswith("/file")]

    # render --covers: three covers in each format, and the fourth entry printed cleanly.
    outdir = tmp_path / "out"
    code, out, err = run(server, tmp_path, capsys, "render", "--library", LIB, "--collection", "Numérique et santé",
                         "--covers", "--format", "docx,md,pdf,html", "--output", str(outdir))
    assert code == ExitCode.OK, err
    assert "Wrote 4 entries" in out and "cover" not in err
    name = "Numérique-et-santé"
    titles = list(keys)
    with_cover, without = titles[:3], titles[3]

    # HTML: three embedded thumbnails, alt = the title, each linking to its document; four aligned entries.
    page = (outdir / f"{name}.html").read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(page)
    imgs = re.findall(r'<a href="([^"]+)"><img src="data:image/jpeg;base64,([^"]+)" alt="([^"]+)"', page)
    assert sorted(alt for _, _, alt in imgs) == sorted(with_cover)
    for url, data, alt in imgs:
        assert url == f"https://example.org/rapport-{alt.split()[-1]}"
        assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] == 236  # 3 cm at 200 dpi
    assert page.count('class="entree avec-couverture"') == 4
    fourth = re.search(rf'<article class="entree avec-couverture" id="{keys[without]}">\n(.*?)</article>', page, re.S)
    assert fourth and fourth.group(1).startswith('<div class="couverture"></div>') and without in norm(fourth.group(1))
    assert "src=\"http" not in page and "src=\"file" not in page  # self-contained

    # Markdown: three image files next to the document, linked relatively, each inside a link.
    md = (outdir / f"{name}.md").read_text(encoding="utf-8")
    links = re.findall(r"^\[!\[([^\]]+)\]\(<([^>]+)>\)\]\(<([^>]+)>\)$", md, re.M)
    assert len(links) == 3
    for _alt, src, url in links:
        assert not src.startswith(("/", "http")) and (outdir / unquote(src)).is_file()
        assert url.startswith("https://example.org/rapport-")
    assert sorted(p.name for p in (outdir / f"{name}-covers").iterdir()) == sorted(f"{keys[t]}.jpg" for t in with_cover)
    assert without in norm(md)

    # Word: one borderless two-column table, four rows, three linked pictures, the fourth row's cover cell empty.
    with zipfile.ZipFile(outdir / f"{name}.docx") as zf:
        body = zf.read("word/document.xml").decode("utf-8")
        media = [n for n in zf.namelist() if n.startswith("word/media/")]
    assert len(media) == 3
    assert body.count("<w:tbl>") == 1 and body.count("<w:tr>") == 4 and body.count("<w:drawing>") == 3
    assert '<w:top w:val="nil"' in body and "<w:cantSplit" in body
    rows_xml = re.findall(r"<w:tr>(.*?)</w:tr>", body, re.S)
    first_cells = [re.match(r".*?<w:tc>(.*?)</w:tc>", r, re.S).group(1) for r in rows_xml]
    assert sum("<w:drawing>" in c and "<w:hyperlink" in c for c in first_cells) == 3
    assert [("<w:drawing>" in c) for c in first_cells].count(False) == 1
    assert str(tmp_path) not in body  # no local path recorded in the document

    # PDF: three images, each under a link to its document; every entry's text.
    pdf = pdfium.PdfDocument(str(outdir / f"{name}.pdf"))
    images = 0
    text = ""
    for i in range(len(pdf)):
        page_ = pdf[i]
        images += sum(1 for obj in page_.get_objects(max_depth=4) if obj.type == pdfium.raw.FPDF_PAGEOBJ_IMAGE)
        text += page_.get_textpage().get_text_range()
    assert images == 3
    for title in titles:
        assert title in norm(text.replace("\r\n", " ").replace("\n", " "))


# -- changes, deletions, limits, interruptions ----------------------------------------------


def test_changed_file_is_replaced_and_deleted_attachment_removed(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    add_group_items(server, 3, 0)
    assert run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")[0] == ExitCode.OK
    rows = stored_files(tmp_path)
    folder = tmp_path / "store-files"
    changed, deleted = sorted(rows)[:2]
    old_path = folder / rows[changed]["path"]
    gone_path = folder / rows[deleted]["path"]
    server.put_file(server.prefix, changed, make_pdf((0, 0, 0), "Version 2"))
    server.delete_item(server.prefix, deleted)
    storage.requests.clear()
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")
    assert code == ExitCode.OK, err
    assert "1 file downloaded (1 replacing older versions), 1 unchanged, 1 removed" in out
    assert len(storage.requests) == 1
    rows2 = stored_files(tmp_path)
    assert set(rows2) == set(rows) - {deleted}
    assert not old_path.exists() and not gone_path.exists()
    assert (folder / rows2[changed]["path"]).is_file() and rows2[changed]["md5"] != rows[changed]["md5"]


def test_size_limit_skips_with_a_notice_and_a_higher_limit_fetches(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    add_group_items(server, 2, 0)
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files", "--max-file-size", "0.001")
    assert code == ExitCode.OK, err
    assert "0 files downloaded" in out and "2 over the size limit" in out
    assert "2 files over the size limit (use --max-file-size to raise it):" in err
    assert "rapport-1.pdf" in err
    assert not list((tmp_path / "store-files").glob("*/*.pdf"))
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")
    assert code == ExitCode.OK and "2 files downloaded" in out


def test_a_download_cut_midway_is_never_used_and_the_next_sync_fetches_it(zotero_server, storage, tmp_path,
                                                                            capsys) -> None:
    server = zotero_server
    add_group_items(server, 3, 0)
    storage.cut(100)  # every attempt is cut (the transport retries a cut download a few times)
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")
    assert code == ExitCode.NETWORK, (out, err)
    assert stored_files(tmp_path) == {}  # nothing half-downloaded is recorded
    folder = tmp_path / "store-files"
    assert not (folder / ".partial").exists() or not any((folder / ".partial").iterdir())  # no half file left
    assert not list(folder.glob("*/*.pdf"))
    storage.cut(0)
    with storage._lock:
        storage._fail.clear()
    storage.requests.clear()
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")
    assert code == ExitCode.OK, err
    assert "3 files downloaded, 0 unchanged" in out and len(storage.requests) == 3


def test_at_most_four_downloads_in_flight(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    add_group_items(server, 10, 0)
    storage.latency = 0.15
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")
    assert code == ExitCode.OK, err
    assert "10 files downloaded" in out
    assert 2 <= storage.max_in_flight <= 4


def test_collection_limits_the_files_and_status_counts_them(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    add_group_items(server, 2, 0)
    other = server.put_collection(server.prefix, {"name": "Autre"})["key"]
    item = server.put_item(server.prefix, {"itemType": "book", "title": "Hors sujet", "collections": [other]})
    att = server.put_item(server.prefix, {"itemType": "attachment", "parentItem": item["key"],
                                          "linkMode": "imported_file", "contentType": "application/pdf",
                                          "filename": "hors.pdf"})
    server.put_file(server.prefix, att["key"], make_pdf((9, 9, 9)))
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files", "-c", "Numérique et santé")
    assert code == ExitCode.OK, err
    assert "2 files downloaded" in out and att["key"] not in stored_files(tmp_path)
    code, out, err = run(server, tmp_path, capsys, "status", "--format", "json")
    row = json.loads(out)["libraries"][0]
    sizes = sum((tmp_path / "store-files" / r["path"]).stat().st_size for r in stored_files(tmp_path).values())
    assert row["files"] == 2 and row["file_bytes"] == sizes
    code, out, err = run(server, tmp_path, capsys, "status")
    assert "files" in out and "disk" in out


def test_collection_without_files_is_a_usage_error(zotero_server, storage, tmp_path, capsys) -> None:
    code, _, err = run(zotero_server, tmp_path, capsys, "sync", "-l", LIB, "-c", "X")
    assert code == ExitCode.USAGE and "--files" in err


def test_config_sync_files_makes_files_the_default(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    add_group_items(server, 1, 0)
    (tmp_path / "config.toml").write_text("sync_files = true\nmax_file_mb = 50\n", encoding="utf-8")
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB)
    assert code == ExitCode.OK, err
    assert "1 file downloaded" in out
    code, out, _ = run(server, tmp_path, capsys, "sync", "-l", LIB, "--no-files")
    assert "files:" not in out


def test_bad_config_value_is_one_sentence(zotero_server, tmp_path, capsys) -> None:
    (tmp_path / "config.toml").write_text('max_file_mb = "big"\n', encoding="utf-8")
    code, _, err = run(zotero_server, tmp_path, capsys, "sync", "-l", LIB)
    assert code == ExitCode.CONFIG and "max_file_mb" in err and err.count("\n") == 1


def test_attachment_without_a_file_on_zotero_is_noted_not_fatal(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    item = server.put_item(server.prefix, {"itemType": "book", "title": "Sans fichier"})
    server.put_item(server.prefix, {"itemType": "attachment", "parentItem": item["key"], "linkMode": "imported_file",
                                    "contentType": "application/pdf", "filename": "absent.pdf",
                                    "md5": "0" * 32, "mtime": 1})
    code, out, err = run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")
    assert code == ExitCode.OK, err
    assert "1 not on Zotero's storage" in out and "absent.pdf" in err


def test_local_api_files_come_from_the_file_url(zotero_server, tmp_path, capsys) -> None:
    """Zotero 7's local API redirects to a file:// URL on this machine; that file is copied."""
    server = zotero_server
    add_group_items(server, 2, 0)
    server.local_api = True  # no key; items/KEY/file answers 302 to file:///…
    server.local_files = tmp_path / "zotero-storage"
    local = f"local:group:{TEST_GROUP_ID}"
    env = {"ZOTCURATE_LOCAL_URL": server.url, "ZOTCURATE_STORE": str(tmp_path / "store.sqlite"),
           "ZOTCURATE_CONFIG": str(tmp_path / "config.toml")}
    assert main(["sync", "--library", local, "--files"], env=env) == ExitCode.OK
    out = capsys.readouterr().out
    assert "2 files downloaded" in out
    with Store(tmp_path / "store.sqlite") as store:
        rows = store.attachment_files(store.require_library(local))
    assert len(rows) == 2
    for row in rows.values():
        copied = tmp_path / "store-files" / row["path"]
        assert hashlib.md5(copied.read_bytes()).hexdigest() == row["md5"]


# -- render warnings -----------------------------------------------------------------------------


def test_unreadable_pdf_is_a_warning_and_the_entry_prints_without_cover(zotero_server, storage, tmp_path,
                                                                         capsys) -> None:
    server = zotero_server
    keys = add_group_items(server, 2, 0)
    bad_key = None
    with_att = [i for i in server.item_keys(server.prefix)
                if (server.get_item(server.prefix, i) or {})["data"].get("linkMode") == "imported_file"]
    bad_key = with_att[0]
    server.put_file(server.prefix, bad_key, make_pdf((1, 2, 3))[:200])  # a truncated PDF
    assert run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")[0] == ExitCode.OK
    code, out, err = run(server, tmp_path, capsys, "render", "-l", LIB, "-c", "Numérique et santé", "--covers",
                         "--format", "html", "--output", str(tmp_path / "out"))
    assert code == ExitCode.OK, err
    assert "printed without its cover" in err and "is not a PDF that can be read" in err
    page = (tmp_path / "out" / "Numérique-et-santé.html").read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") == 1 and page.count('class="entree avec-couverture"') == 2
    assert all(f'id="{k}"' in page for k in keys.values())


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftoppm") is None,
                    reason="LibreOffice (soffice) and poppler-utils are needed to lay the .docx out")
@pytest.mark.timeout(300)
def test_libreoffice_keeps_the_covers_beside_the_entries(zotero_server, storage, tmp_path, capsys) -> None:
    server = zotero_server
    add_group_items(server, 3, 1)
    assert run(server, tmp_path, capsys, "sync", "-l", LIB, "--files")[0] == ExitCode.OK
    out = tmp_path / "out"
    assert run(server, tmp_path, capsys, "render", "-l", LIB, "-c", "Numérique et santé", "--covers",
               "--format", "docx", "--output", str(out))[0] == ExitCode.OK
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(out), str(out / "Numérique-et-santé.docx")], check=True, capture_output=True,
                   timeout=240)
    pdf = pdfium.PdfDocument(str(out / "Numérique-et-santé.pdf"))
    found = []
    for i in range(len(pdf)):
        page = pdf[i]
        width = page.get_width()
        for obj in page.get_objects(max_depth=4):
            if obj.type == pdfium.raw.FPDF_PAGEOBJ_IMAGE:
                left, _, right, _ = obj.get_bounds()
                found.append((left, right, width))
    assert len(found) == 3
    for left, right, width in found:  # in the left column, about 3 cm wide, not across the page
        assert right < width / 2 and 70 < right - left < 100  # 3 cm = 85 pt
