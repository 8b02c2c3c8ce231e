"""Link audits: the URLs and DOIs of a library's items, checked politely and remembered (docs/links.md)."""
