"""zotcurate: curate a Zotero group library and publish annotated bibliographies from it."""

__version__ = "0.1.0"
