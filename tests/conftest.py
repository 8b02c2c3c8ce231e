"""Shared fixtures: a running fake Zotero API server (see tests/zotero_server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from zotero_server import FakeZotero

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "numerique-sante"

# One API key, one user, one group: what a documentalist's configuration points at.
TEST_API_KEY = "zTestKey0123456789abcdef"
TEST_USER_ID = 475425
TEST_GROUP_ID = 5086442
TEST_GROUP_NAME = "Numérique et santé"


def make_server(latency: float = 0.0) -> FakeZotero:
    """A started server with the test group and key (caller stops it)."""
    server = FakeZotero(latency=latency, seed=1)
    server.add_group(TEST_GROUP_ID, TEST_GROUP_NAME, owner=TEST_USER_ID)
    server.add_key(TEST_API_KEY, user_id=TEST_USER_ID, username="documentaliste",
                   groups={TEST_GROUP_ID: {"library": True, "write": True}})
    server.api_key = TEST_API_KEY
    server.user_id = TEST_USER_ID
    server.group_id = TEST_GROUP_ID
    return server.start()


def load_example(server: FakeZotero) -> int:
    """Load examples/numerique-sante into the test group; returns the library version."""
    items = json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))
    collections = json.loads((EXAMPLE / "collections.json").read_text(encoding="utf-8"))
    return server.load_export(server.prefix, items, collections)


@pytest.fixture
def zotero_server() -> Iterator[FakeZotero]:
    """A running fake Zotero API with an empty group ``.group_id`` readable/writable with ``.api_key``."""
    server = make_server()
    try:
        yield server
    finally:
        server.stop()
    # A bug in the fake itself must not pass as a client failure (or success).
    assert server.errors == [], f"the fake Zotero server raised while serving: {server.errors!r}"


@pytest.fixture
def zotero_example(zotero_server: FakeZotero) -> FakeZotero:
    """``zotero_server`` with the numerique-sante example library loaded (one version bump)."""
    load_example(zotero_server)
    return zotero_server
