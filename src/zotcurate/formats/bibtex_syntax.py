"""The BibTeX file syntax, read in one pass: entries, ``@string`` macros, comments, and where each
entry starts (line numbers come from one table of line starts, so a file of any size is read in
linear time).

It reads what BibTeX, biber and JabRef accept, and what they write: ``@type{key, …}`` or
``@type(key, …)``, values in braces, quotes or bare numbers, ``#`` concatenation, macros (the month
abbreviations are predefined, as in BibTeX), field names such as biber's ``author+an``, keyless
entries (``@article{,`` from JabRef), ``%`` comment lines between entries and fields. Braces are
counted as BibTeX counts them (a backslash does not escape a brace).

An entry that cannot be read is reported (``problem``) with its line and skipped: reading goes on
at the end of the entry if its braces close, else at the next line that starts with ``@`` (as
BibTeX itself recovers). An undefined macro is kept as its name, and reported.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# Characters BibTeX does not allow in identifiers (entry types, field names, macro names).
_IDENT = r"[^\s\"#%'(),={}]+"
_AT_OR_COMMENT = re.compile(r"%[^\n]*|@")
_ENTRY_START = re.compile(r"@[ \t]*(" + _IDENT + r")[ \t\r\n]*([{(])")
_WS = re.compile(r"(?:\s+|%[^\n]*)*")  # blanks and %-comment lines between fields
_KEY = re.compile(r"[^\s,{}()\"=#%]*")
# In an entry opened with "{", BibTeX reads parentheses as part of the key (Better BibTeX writes
# "Agilent(2022)Modifications…"); only "@article(key, …)" ends its key at ")".
_KEY_IN_BRACES = re.compile(r"[^\s,{}\"=#%]*")
_FIELD_NAME = re.compile(_IDENT)
_NUMBER = re.compile(r"\d+")
_MACRO = re.compile(r"[^\s\"#%'(),={}0-9][^\s\"#%'(),={}]*")
_BRACE = re.compile(r"[{}]")
_QUOTE_OR_BRACE = re.compile(r'["{}]')
_NEXT_ENTRY_LINE = re.compile(r"\n[ \t]*@")

MONTH_MACROS = {
    "jan": "January", "feb": "February", "mar": "March", "apr": "April", "may": "May", "jun": "June",
    "jul": "July", "aug": "August", "sep": "September", "oct": "October", "nov": "November", "dec": "December",
}


@dataclass
class RawEntry:
    """One entry as written: lower-case ``type``, ``key`` ("" when the file gives none), ``fields``
    (lower-case name → LaTeX source, macros expanded, concatenations joined), the ``line`` of its ``@``
    and ``head``, its first line (for messages)."""

    type: str
    key: str
    fields: dict[str, str]
    line: int
    head: str
    field_lines: dict[str, int] = field(default_factory=dict)


class _Unreadable(Exception):
    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.reason, self.pos = reason, pos


class _Lines:
    """Position → line number through one sorted table of line starts (built once)."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)


def parse_bibtex(text: str, problem: Callable[[str, str], None]) -> list[RawEntry]:
    """Every entry of a BibTeX text, in order (``@string``, ``@preamble`` and ``@comment`` are not
    entries). ``problem(sentence, consequence)`` hears of each skipped entry and undefined macro."""
    return _Parser(text, problem).run()


class _Parser:
    def __init__(self, text: str, problem: Callable[[str, str], None]) -> None:
        self.text, self.problem = text, problem
        self.lines = _Lines(text)
        self.strings: dict[str, str] = dict(MONTH_MACROS)
        self.entries: list[RawEntry] = []

    def run(self) -> list[RawEntry]:
        text, pos = self.text, 0
        while True:
            m = _AT_OR_COMMENT.search(text, pos)
            if m is None:
                return self.entries
            if m.group(0) != "@":
                pos = m.end()  # a %-comment line outside entries (JabRef's "% Encoding: …")
                continue
            start = _ENTRY_START.match(text, m.start())
            if start is None:
                pos = m.end()  # an @ in free text (an e-mail address in a comment)
                continue
            pos = self._block(start)

    def _block(self, start: re.Match[str]) -> int:
        kind, opener = start[1].lower(), start[2]
        closer = "}" if opener == "{" else ")"
        at, body = start.start(), start.end()
        if kind in ("comment", "preamble"):
            return self._skip_group(at, body - 1, closer)
        try:
            if kind == "string":
                return self._string(body, closer)
            return self._entry(kind, at, body, closer)
        except _Unreadable as exc:
            head = self.text[at: self.text.find("\n", at) if "\n" in self.text[at:at + 200] else at + 60].strip()[:60]
            where = f" (line {self.lines.of(exc.pos)})" if self.lines.of(exc.pos) != self.lines.of(at) else ""
            self.problem(f"line {self.lines.of(at)}: the entry '{head}' is not valid BibTeX: {exc.reason}{where}",
                         "it was skipped")
            return self._resync(at, body - 1, closer)

    # -- the pieces -----------------------------------------------------------------------

    def _skip_ws(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]  # the pattern matches "" too

    def _char(self, pos: int) -> str:
        return self.text[pos] if pos < len(self.text) else ""

    def _string(self, pos: int, closer: str) -> int:
        pos = self._skip_ws(pos)
        name = _FIELD_NAME.match(self.text, pos)
        if name is None:
            raise _Unreadable("a @string needs a name", pos)
        pos = self._skip_ws(name.end())
        if self._char(pos) != "=":
            raise _Unreadable(f"expected '=' after the @string name '{name[0]}'", pos)
        value, pos = self._value(self._skip_ws(pos + 1))
        pos = self._skip_ws(pos)
        if self._char(pos) != closer:
            raise _Unreadable(f"expected '{closer}' to close the @string", pos)
        self.strings[name[0].lower()] = value
        return pos + 1

    def _entry(self, kind: str, at: int, pos: int, closer: str) -> int:
        text = self.text
        pos = self._skip_ws(pos)
        key_match = (_KEY_IN_BRACES if closer == "}" else _KEY).match(text, pos)
        key, after_key = (key_match[0], key_match.end()) if key_match else ("", pos)
        nxt = self._skip_ws(after_key)
        if self._char(nxt) == "=":
            key, nxt = "", pos  # "@article{author = …": no key, the first field starts here
        elif self._char(nxt) == ",":
            nxt += 1
        elif self._char(nxt) != closer:
            raise _Unreadable(f"expected ',' after the key '{key}'", nxt)
        head_end = text.find("\n", at)
        head = text[at: head_end if head_end != -1 else len(text)].strip()[:60]
        entry = RawEntry(kind, key, {}, self.lines.of(at), head)
        pos = nxt
        while True:
            pos = self._skip_ws(pos)
            ch = self._char(pos)
            if ch == closer:
                self.entries.append(entry)
                return pos + 1
            if ch == ",":  # a doubled comma
                pos += 1
                continue
            name = _FIELD_NAME.match(text, pos)
            if name is None:
                raise _Unreadable("unbalanced braces or a missing closing brace" if not ch else
                                  f"expected a field name, found '{ch}'", pos)
            pos = self._skip_ws(name.end())
            if self._char(pos) != "=":
                raise _Unreadable(f"expected '=' after the field name '{name[0]}'", pos)
            value, pos = self._value(self._skip_ws(pos + 1), entry)
            field_name = name[0].lower()
            if field_name not in entry.fields:  # BibTeX keeps the first of two equal fields
                entry.fields[field_name] = value
                entry.field_lines[field_name] = self.lines.of(name.start())
            pos = self._skip_ws(pos)
            ch = self._char(pos)
            if ch == ",":
                pos += 1
            elif ch != closer:
                raise _Unreadable(f"expected ',' or '{closer}' after the field '{name[0]}' (unbalanced braces or a "
                                  "missing comma?)", pos)

    def _value(self, pos: int, entry: RawEntry | None = None) -> tuple[str, int]:
        """A field value: parts in braces, quotes, numbers or macros, joined by ``#``."""
        text, parts = self.text, []
        while True:
            ch = self._char(pos)
            if ch == "{":
                end = self._matching_brace(pos)
                if end < 0:
                    raise _Unreadable("a value's braces never close", pos)
                parts.append(text[pos + 1: end])
                pos = end + 1
            elif ch == '"':
                end = self._closing_quote(pos)
                parts.append(text[pos + 1: end])
                pos = end + 1
            elif (number := _NUMBER.match(text, pos)) is not None:
                parts.append(number[0])
                pos = number.end()
            elif (macro := _MACRO.match(text, pos)) is not None:
                name = macro[0]
                if name.lower() in self.strings:
                    parts.append(self.strings[name.lower()])
                else:
                    parts.append(name)
                    where = f" in '{entry.head}'" if entry else ""
                    self.problem(f"line {self.lines.of(pos)}: the macro '{name}'{where} is not defined (no @string)",
                                 f"its name '{name}' was kept as the value")
                pos = macro.end()
            else:
                raise _Unreadable("a value is missing" if ch in ",})" else f"a value cannot start with '{ch}'", pos)
            after = self._skip_ws(pos)
            if self._char(after) != "#":
                return "".join(parts), pos
            pos = self._skip_ws(after + 1)

    def _matching_brace(self, pos: int) -> int:
        depth = 0
        for m in _BRACE.finditer(self.text, pos):
            depth += 1 if m.group(0) == "{" else -1
            if depth == 0:
                return m.start()
        return -1

    def _closing_quote(self, pos: int) -> int:
        depth = 0
        for m in _QUOTE_OR_BRACE.finditer(self.text, pos + 1):
            ch = m.group(0)
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth < 0:
                    raise _Unreadable("a quoted value has an unbalanced closing brace", m.start())
            elif depth == 0:
                return m.start()
        raise _Unreadable("a quoted value never closes", pos)

    def _skip_group(self, at: int, opener_pos: int, closer: str) -> int:
        if closer == "}":
            end = self._matching_brace(opener_pos)
            if end >= 0:
                return end + 1
        else:
            end = self.text.find(")", opener_pos)
            if end >= 0:
                return end + 1
        return self._next_entry_line(at)

    def _resync(self, at: int, opener_pos: int, closer: str) -> int:
        """Where reading goes on after an unreadable entry: its end if its braces close before the next
        line that starts with ``@``, else that line."""
        next_line = self._next_entry_line(at)
        if closer == "}":
            end = self._matching_brace(opener_pos)
            if 0 <= end < next_line:
                return end + 1
        return next_line

    def _next_entry_line(self, at: int) -> int:
        m = _NEXT_ENTRY_LINE.search(self.text, at + 1)
        return m.start() + 1 if m else len(self.text)
