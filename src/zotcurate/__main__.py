"""``python -m zotcurate``."""

from zotcurate.cli import entry_point

entry_point()
