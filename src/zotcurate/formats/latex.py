"""LaTeX in BibTeX values ↔ Unicode text and Zotero's rich-text markup, behind pylatexenc.

Reading parses each value into LaTeX nodes (pylatexenc's walker), so a command is always read whole
(``\\lambda`` is λ, never ``\\l`` + "ambda"), an accent takes its argument braced or not (``\\c c``,
``\\v S``, ``\\u \\i``), and a command nobody knows leaves its argument's text, never its name.
In titles (``rich``), ``\\emph``/``\\textit`` become ``<i>``, ``\\textbf`` ``<b>``, ``\\textsc`` a
small-caps span, ``\\textsuperscript``/``\\textsubscript`` ``<sup>``/``<sub>``, and a brace group that
protects words (``{DNA}``) ``<span class="nocase">`` (how Zotero stores text that keeps its case).
Math is converted when every piece of it has a plain-text reading (``$\\rho$`` → ρ, ``H$_2$O`` →
H<sub>2</sub>O in titles), else kept exactly as written (``$\\frac{a}{b}$``). Sort and spacing
commands (``\\noopsort{…}``, ``\\relax``, ``\\vphantom{…}``) print nothing.

Writing escapes LaTeX's special characters and turns the markup back into commands.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from typing import Any

from pylatexenc import latex2text
from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexNode,
    LatexSpecialsNode,
    LatexWalker,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import MacroSpec

NOCASE_OPEN, NOCASE_CLOSE = '<span class="nocase">', "</span>"
SMALL_CAPS_OPEN = '<span style="font-variant:small-caps;">'

# Formatting commands → the rich-text tags Zotero stores (titles) or nothing (other fields).
_MARKUP = {
    "textit": ("<i>", "</i>"), "emph": ("<i>", "</i>"), "mkbibemph": ("<i>", "</i>"), "mkbibitalic": ("<i>", "</i>"),
    "textsl": ("<i>", "</i>"), "textbf": ("<b>", "</b>"), "mkbibbold": ("<b>", "</b>"),
    "textsc": (SMALL_CAPS_OPEN, "</span>"), "textsuperscript": ("<sup>", "</sup>"),
    "mkbibsuperscript": ("<sup>", "</sup>"), "textsubscript": ("<sub>", "</sub>"),
    "mkbibsubscript": ("<sub>", "</sub>"), "enquote": ("“", "”"), "mkbibquote": ("“", "”"),
}
# Commands whose argument is printed as it is.
_TRANSPARENT = {"textrm", "textup", "textnormal", "textsf", "texttt", "textmd", "mbox", "hbox", "text", "NoCaseChange",
                "ensuremath", "protect", "MakeUppercase", "MakeLowercase", "uppercase", "lowercase", "nocite", "cite"}
# Old-style declarations that switch the font for the rest of their group: {\em word}, {\bf word}.
_DECLARATIONS = {"em": _MARKUP["emph"], "it": _MARKUP["emph"], "sl": _MARKUP["emph"], "itshape": _MARKUP["emph"],
                 "bf": _MARKUP["textbf"], "bfseries": _MARKUP["textbf"], "sc": _MARKUP["textsc"],
                 "scshape": _MARKUP["textsc"], "rm": ("", ""), "tt": ("", ""), "sf": ("", ""), "normalfont": ("", ""),
                 "upshape": ("", ""), "mdseries": ("", "")}
# An accent over nothing (\~{}) is the accent character itself.
_BARE_ACCENTS = {"~": "~", "^": "^", "'": "'", "`": "`", '"': '"', "=": "¯", ".": "˙"}
# Commands that print nothing, with their arguments (sort keys, spacing, phantoms).
_SILENT_WITH_ARG = {"noopsort", "vphantom", "hphantom", "phantom", "SortNoop", "sortnoop", "bibsort", "hspace",
                    "vspace", "index", "label"}
_SILENT = {"relax", "ignorespaces", "unskip", "-", "/", "@", "nobreak", "xspace", "break", "newblock",
           "allowbreak", "null", "leavevmode", "noindent", "bibnamedelima", "bibnamedelimb"}
# Symbols pylatexenc has no text for.
_SYMBOLS = {
    "textless": "<", "textgreater": ">", "textbar": "|", "textbraceleft": "{", "textbraceright": "}",
    "textunderscore": "_", "textasciicircum": "^", "S": "§", "P": "¶", "copyright": "©", "textbackslash": "\\",
    "textquotesingle": "'", "textquotedbl": '"', "textdollar": "$", "textperiodcentered": "·", "slash": "/",
    "textsection": "§", "textparagraph": "¶", "textdegree": "°", "textordmasculine": "º", "textordfeminine": "ª",
    "textnumero": "№", "textasciigrave": "`", "ng": "ŋ", "NG": "Ŋ", "dh": "ð", "DH": "Ð", "th": "þ", "TH": "Þ",
    "dj": "đ", "DJ": "Đ", "textcelsius": "℃", "textmu": "µ", "textohm": "Ω", "texteuro": "€",
    "euro": "€", "textsterling": "£", "pounds": "£", "textyen": "¥", "textcent": "¢",
}
_ALL_ONE_ARG = sorted(set(_MARKUP) | _TRANSPARENT | _SILENT_WITH_ARG | {"url", "t", "href", "hyphenation"})


def _walker_db() -> Any:  # pylatexenc ships no type information
    db = get_default_latex_context_db()
    specs = [MacroSpec(name, "{") for name in _ALL_ONE_ARG if name not in ("href", "hspace", "vspace")]
    specs += [MacroSpec("href", "{{"), MacroSpec("hspace", "*{"), MacroSpec("vspace", "*{")]
    db.add_context_category("zotcurate-bibtex", macros=specs, prepend=True)
    return db


_DB = _walker_db()
# pylatexenc logs its own configuration slips (a \frac outside math) as warnings nobody importing a file
# can act on; what zotcurate makes of such a command is decided below.
logging.getLogger("pylatexenc").setLevel(logging.ERROR)
_TO_TEXT = latex2text.LatexNodes2Text(math_mode="text", strict_latex_spaces=False)

# A value without any of these is plain text: no LaTeX reading needed (most fields of most files).
_NEEDS_LATEX = re.compile(r"[\\{}$~%]|--|``|''|!`|\?`")
_SPACES = re.compile(r"[ \t\r\n\f\v]+")  # not the no-break space that ~ stands for
_LOOSE_MARK = re.compile(r"(^|[ \u00a0])[\u0300-\u036f]+")
_TIE = "\u0361"


def latex_to_text(value: str, *, rich: bool = False) -> str:
    """A BibTeX value as Unicode text (with Zotero's rich-text tags when ``rich``), spaces collapsed."""
    if not _NEEDS_LATEX.search(value):
        return _SPACES.sub(" ", value).strip()
    # journal names, publishers and places repeat across a file: read each once (abstracts do not repeat)
    return _cached_to_text(value, rich) if len(value) < 300 else _to_text(value, rich)


@lru_cache(maxsize=16384)
def _cached_to_text(value: str, rich: bool) -> str:
    return _to_text(value, rich)


def _to_text(value: str, rich: bool) -> str:
    nodes, _, _ = LatexWalker(value, latex_context=_DB, tolerant_parsing=True).get_latex_nodes()
    text = _nodes(nodes, rich, top=True)
    text = unicodedata.normalize("NFC", _SPACES.sub(" ", text)).strip()
    # An accent with nothing to sit on (``\\'{}``) would be a loose combining mark: drop it.
    return _LOOSE_MARK.sub(r"\1", text) if max(text, default=" ") >= "\u0300" else text


def _nodes(nodes: list[LatexNode] | None, rich: bool, top: bool = False) -> str:
    out: list[str] = []
    after_macro = False
    for node in nodes or []:
        if isinstance(node, LatexCharsNode):
            out.append(node.chars)
        elif isinstance(node, LatexGroupNode) and (declared := _declaration(node, rich)) is not None:
            out.append(declared)
        elif isinstance(node, LatexGroupNode):
            inner = _nodes(node.nodelist, rich)
            # A group right after a command is that command's argument; one holding words protects them.
            protects = rich and top and not after_macro and any(
                isinstance(n, LatexCharsNode) and any(c.isalnum() for c in n.chars) for n in node.nodelist)
            out.append(f"{NOCASE_OPEN}{inner}{NOCASE_CLOSE}" if protects and inner.strip() else inner)
        elif isinstance(node, LatexMacroNode):
            out.append(_macro(node, rich))
        elif isinstance(node, LatexMathNode):
            out.append(_math(node, rich))
        elif isinstance(node, LatexSpecialsNode):
            out.append("\u00a0" if node.specials_chars == "~" else _TO_TEXT.node_to_text(node))
        elif isinstance(node, LatexCommentNode):
            # "50% of" is text in a bibliography field, not a LaTeX comment.
            out.append("%" + node.comment + (node.comment_post_space or ""))
        else:
            out.append(_TO_TEXT.node_to_text(node))
        after_macro = isinstance(node, LatexMacroNode) and not _args(node)
    return "".join(out)


def _declaration(group: LatexGroupNode, rich: bool) -> str | None:
    """``{\\em word}`` → ``<i>word</i>`` (titles) or ``word``; None for a group that does not start so."""
    children = [n for n in group.nodelist or [] if not (isinstance(n, LatexCharsNode) and not n.chars.strip())]
    first = children[0] if children else None
    if not (isinstance(first, LatexMacroNode) and first.macroname in _DECLARATIONS):
        return None
    rest = group.nodelist[group.nodelist.index(first) + 1:]
    inner = _nodes(rest, rich)
    open_tag, close_tag = _DECLARATIONS[first.macroname] if rich else ("", "")
    return f"{open_tag}{inner.strip()}{close_tag}" if inner.strip() else ""


def _args(node: LatexMacroNode) -> list[LatexNode]:
    argd = node.nodeargd
    return [a for a in (argd.argnlist if argd is not None else []) if a is not None]


def _arg_text(arg: LatexNode, rich: bool) -> str:
    if isinstance(arg, LatexGroupNode):
        return _nodes(arg.nodelist, rich)
    return _nodes([arg], rich)


def _macro(node: LatexMacroNode, rich: bool) -> str:
    name, args = node.macroname, _args(node)
    if name in _MARKUP:
        inner = "".join(_arg_text(a, rich) for a in args)
        if not rich and name not in ("enquote", "mkbibquote"):
            return inner
        open_tag, close_tag = _MARKUP[name]
        return f"{open_tag}{inner}{close_tag}" if inner else ""
    if name in _TRANSPARENT:
        return "".join(_arg_text(a, rich) for a in args)
    if name in _SILENT_WITH_ARG or name in _SILENT or name == "hyphenation":
        return ""
    if name == "url":
        return "".join(a.latex_verbatim()[1:-1] if isinstance(a, LatexGroupNode) else a.latex_verbatim() for a in args)
    if name == "href":
        return _arg_text(args[-1], rich) if args else ""
    if name == "t" and args:  # the tie accent over two letters: i͡a
        inner = _arg_text(args[0], rich)
        return inner[:1] + _TIE + inner[1:] if len(inner) >= 2 else inner
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    if name == "\\":
        return " "
    if name in _BARE_ACCENTS and args and not _arg_text(args[0], rich).strip():
        return _BARE_ACCENTS[name]
    text = _TO_TEXT.node_to_text(node)
    if ("\\" in text and name != "textbackslash") or "%s" in text:
        return "".join(_arg_text(a, rich) for a in args)  # no text reading of the command: its argument only
    return text


# -- math ------------------------------------------------------------------------------------

_MATH_TOKEN = re.compile(
    r"\\(?P<wrap>mathrm|text|textrm|mathbf|mathit|mathsf|mbox|operatorname)\s*\{(?P<wrapped>[^{}\\$]*)\}"
    r"|\\(?P<macro>[A-Za-z]+)\s*"
    r"|(?P<script>[\^_])\s*(?:\{(?P<braced>[^{}\\$]*)\}|(?P<single>[^\s{}\\$]))"
    r"|(?P<plain>[^\\{}^_$]+)"
)
_SUPERSCRIPTS = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUBSCRIPTS = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")


@lru_cache(maxsize=1024)
def _math_symbol(name: str) -> str | None:
    """The plain-text reading of a math command without arguments (``\\alpha`` → α), or None."""
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    spec = _DB.get_macro_spec(name)
    if spec is not None and str(getattr(spec.args_parser, "argspec", "") or ""):
        return None  # \frac{a}{b}, \mathbb{R}: no plain reading of the command alone
    text = _TO_TEXT.latex_to_text("\\" + name)
    return text if text and "\\" not in text and "%" not in text else None


def _math(node: LatexMathNode, rich: bool) -> str:
    written = node.latex_verbatim()
    open_len = len(node.delimiters[0]) if node.delimiters else 1
    close_len = len(node.delimiters[1]) if node.delimiters else 1
    body = written[open_len: len(written) - close_len]
    out: list[str] = []
    pos = 0
    while pos < len(body):
        m = _MATH_TOKEN.match(body, pos)
        if m is None or m.end() == pos:
            return written  # something without a plain reading: keep the math as the source wrote it
        pos = m.end()
        if m["wrap"]:
            out.append(m["wrapped"])
        elif m["macro"]:
            symbol = _math_symbol(m["macro"])
            if symbol is None:
                return written
            out.append(symbol)
        elif m["script"]:
            part = m["braced"] if m["braced"] is not None else m["single"]
            if rich:
                tag = "sup" if m["script"] == "^" else "sub"
                out.append(f"<{tag}>{part}</{tag}>")
            else:
                table = _SUPERSCRIPTS if m["script"] == "^" else _SUBSCRIPTS
                converted = part.translate(table)
                if converted == part and part:
                    return written
                if any(c.isascii() and c.isalnum() for c in converted):
                    return written  # a letter has no Unicode superscript in general: keep x^{ab} as written
                out.append(converted)
        else:
            out.append(m["plain"])
    return "".join(out)


# -- writing ---------------------------------------------------------------------------------

_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}"}
_ESCAPE_RE = re.compile(r"[&%$#_~^\\{}]")
# Zotero's rich-text tags → LaTeX, as Better BibTeX writes them.
_TAGS_OUT = {"i": r"\emph{", "em": r"\emph{", "b": r"\textbf{", "strong": r"\textbf{",
             "sup": r"\textsuperscript{", "sub": r"\textsubscript{", "nocase": "{", "sc": r"\textsc{"}


def escape(text: str) -> str:
    """Plain text as a BibTeX value: LaTeX's special characters escaped, no-break spaces as ``~``.

    Literal braces are written ``\\{``/``\\}`` only in pairs, so that BibTeX (which counts every brace)
    still sees a balanced value; an unpaired one becomes ``\\textbraceleft{}``/``\\textbraceright{}``."""
    if not _ESCAPE_RE.search(text) and "\u00a0" not in text:
        return text
    paired = _paired_braces(text)
    out = []
    for i, ch in enumerate(text):
        if ch in "{}":
            out.append(_ESCAPES[ch] if i in paired else (r"\textbraceleft{}" if ch == "{" else r"\textbraceright{}"))
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == "\u00a0":
            out.append("~")
        else:
            out.append(ch)
    return "".join(out)


def _paired_braces(text: str) -> set[int]:
    stack, paired = [], set()
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            paired |= {stack.pop(), i}
    return paired


def escape_rich(text: str) -> str:
    """A title with Zotero's rich-text tags as LaTeX (``<i>`` → ``\\emph{}``, no-case spans → ``{…}``)."""
    out: list[str] = []
    stack: list[bool] = []  # per open tag: whether it produced a closing brace
    for part in re.split(r"(<[^>]+>)", text):
        m = re.match(r"<(/?)(\w+)([^>]*)>$", part)
        if not m:
            out.append(escape(part))
            continue
        closing, tag, attrs = m[1], m[2].lower(), m[3]
        if tag == "span":
            tag = "nocase" if "nocase" in attrs else ("sc" if "small-caps" in attrs else "span")
        if closing:
            if stack and stack.pop():
                out.append("}")
        elif tag in _TAGS_OUT:
            out.append(_TAGS_OUT[tag])
            stack.append(True)
        else:
            stack.append(False)  # unknown markup is dropped, its text kept
    out.extend("}" for opened in stack if opened)
    return "".join(out)
