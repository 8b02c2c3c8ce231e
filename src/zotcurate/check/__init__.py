"""Metadata checks: profiles, the rule registry, duplicates, the run and its reports (docs/check.md)."""
