"""The bundled CSL styles and Word reference document (installed as zotcurate.styles)."""
