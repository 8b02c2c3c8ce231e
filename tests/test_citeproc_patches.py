"""One test per citeproc-py defect that zotcurate's patch layer (zotcurate.render.citations)
fixes, each with a minimal style. The docstrings name the CSL test-suite fixture that failed
with citeproc-py 0.11.1 and the class or function that owns the fix (docs/citations.md)."""

from __future__ import annotations

import pytest

from zotcurate.render.citations import CitationFormatter, CitationInput, CiteRef, CslProcessor

CSL = "http://purl.org/net/xbiblio/csl"


def style(layout: str, *, macros: str = "", bib_attrs: str = "", citation: str = "<text variable='title'/>",
          style_attrs: str = 'class="in-text"', locale: str = "", citation_attrs: str = "",
          citation_layout_attrs: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<style xmlns="{CSL}" version="1.0" {style_attrs}>
  <info><title>test</title><id>test</id><updated>2024-01-01T00:00:00+00:00</updated></info>
  {locale}
  {macros}
  <citation {citation_attrs}><layout {citation_layout_attrs}>{citation}</layout></citation>
  <bibliography {bib_attrs}><layout>{layout}</layout></bibliography>
</style>""".encode()


def bib_html(csl: bytes, items: list[dict], locale: str = "en-US") -> list[str]:
    return [entry.html() for entry in CslProcessor(csl, items, locale).bibliography()]


def spans(csl: bytes, item: dict, locale: str = "en-US") -> list[tuple[str, set[str]]]:
    entry = CitationFormatter(csl, locale).format_entries([item])[0]
    assert entry.error is None, entry.error
    assert entry.spans is not None
    return [(s.text, {f for f in ("italic", "bold", "smallcaps") if getattr(s, f)}) for s in entry.spans]


PERSON = {"id": "a", "type": "book", "title": "A title",
          "author": [{"family": "Dupont", "given": "Jean-Marie"}, {"family": "Martin", "given": "Anne"}]}


# --- names: citeproc-py's Name.process joins the parts with str.join (names.Name, names.Name_Part) ------------

def test_formatting_on_name_parts_is_kept():
    """name_WesternPrimaryFontStyleTwoAuthors: str.join dropped the formatted string subclass,
    so small caps and italics on cs:name-part were silently lost (147 repository styles)."""
    csl = style("""<names variable="author"><name and="text" delimiter=", ">
        <name-part name="family" font-variant="small-caps"/><name-part name="given" font-style="italic"/>
        </name></names>""")
    assert spans(csl, PERSON) == [("Jean-Marie", {"italic"}), (" ", set()), ("Dupont", {"smallcaps"}),
                                  (" and ", set()), ("Anne", {"italic"}), (" ", set()),
                                  ("Martin", {"smallcaps"})]


@pytest.mark.parametrize(("given_case", "expected"), [("capitalize-first", "DUPONT, Jean-marie"),
                                                      ("title", "DUPONT, Jean-Marie"),
                                                      ("lowercase", "DUPONT, jean-marie")])
def test_text_case_on_a_name_part_does_not_raise(given_case, expected):
    """The same str.join: a name part with text-case="capitalize-first" (or "title") raised
    AttributeError "'str' object has no attribute 'capitalize_first'" ('words' for title) and
    the item was lost; 65 repository styles lost items that way."""
    csl = style(f"""<names variable="author"><name name-as-sort-order="all">
        <name-part name="family" text-case="uppercase"/><name-part name="given" text-case="{given_case}"/>
        </name></names>""")
    item = {**PERSON, "author": [{"family": "dupont", "given": "jean-marie"}]}
    assert spans(csl, item) == [(expected, set())]


def test_formatted_name_part_with_an_affix_does_not_raise():
    """name_ParsedNonDroppingParticleWithAffixes: a formatted name part with a prefix or suffix
    raised "TypeError: expected str instance, MixedString found"."""
    csl = style("""<names variable="author"><name>
        <name-part name="family" font-weight="bold" prefix="(" suffix=")"/></name></names>""")
    assert spans(csl, {**PERSON, "author": PERSON["author"][:1]}) == [
        ("Jean-Marie (", set()), ("Dupont", {"bold"}), (")", set())]


def test_initialize_false_keeps_the_given_name():
    """name_InitialsInitializeFalse (and the Chicago notes golden file): initialize="false"
    with initialize-with normalises initials the item already has but leaves full given names;
    citeproc-py printed "J." where the style asks for "Jean" (names.initialize_with)."""
    csl = style("""<names variable="author"><name initialize="false" initialize-with=". "/></names>""")
    item = {**PERSON, "author": [{"family": "Dupont", "given": "Jean"}, {"family": "Martin", "given": "A.B."}]}
    assert bib_html(csl, [item]) == ["Jean Dupont, A. B. Martin"]


def test_institution_substitute_keeps_the_delimiter():
    """The centre example's "ANAP*Déployer…*": an institution standing in for the author lost
    the group delimiter that follows it in citeproc-py (names.Names and elements.Group)."""
    csl = style("""<group delimiter=". "><names variable="author"/>
        <text variable="title" font-style="italic"/></group>""")
    item = {"id": "x", "type": "report", "title": "Déployer", "author": [{"literal": "ANAP"}]}
    assert bib_html(csl, [item], "fr-FR") == ["ANAP. <i>Déployer</i>"]


# --- dates (dates.Date, dates.Date_Part, items.prepare) ---------------------------------------------------------

def test_season_is_printed():
    """date_OtherWithDate: citeproc-py dropped the season of a date ("season" in CSL-JSON or a
    month 13-16, CSL-JSON's way of writing a season)."""
    csl = style("""<date variable="issued"><date-part name="month" suffix=" "/><date-part name="year"/></date>""")
    items = [{"id": "a", "type": "book", "issued": {"date-parts": [[2020]], "season": 3}},
             {"id": "b", "type": "book", "issued": {"date-parts": [[2021, 13]]}}]
    assert bib_html(csl, items) == ["Autumn 2020", "Spring 2021"]


def test_circa_is_a_condition_and_printed_with_its_term():
    """date_Uncertain: citeproc-py dropped "circa" and its is-uncertain-date condition never held."""
    csl = style("""<text variable="title" suffix=", "/><choose><if is-uncertain-date="issued">
        <text term="circa" form="short" suffix=" "/></if></choose>
        <date variable="issued"><date-part name="year"/></date>""")
    items = [{"id": "a", "type": "book", "title": "A", "issued": {"date-parts": [[1850]], "circa": True}},
             {"id": "b", "type": "book", "title": "B", "issued": {"date-parts": [[1851]]}}]
    assert bib_html(csl, items) == ["A, c. 1850", "B, 1851"]


# --- CSL 1.0.2 variables (items.prepare) ------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["volume-title", "part-title", "reviewed-title", "event-title"])
def test_csl_1_0_2_variables_are_passed_through(variable):
    """citeproc-py 0.11's reader knows CSL 1.0 only: volume-title, part-title and
    reviewed-title were dropped, and event-title was renamed event."""
    csl = style(f'<text variable="{variable}" prefix="[" suffix="]"/>')
    item = {"id": "a", "type": "paper-conference", variable: "Journées"}
    assert bib_html(csl, [item], "fr-FR") == ["[Journées]"]


def test_event_title_and_event_are_the_same_variable():
    """A CSL 1.0.1 style (Chicago's "Paper presented at …") asks for event, a Zotero export
    gives event-title: both names give the value, so "at" is printed with it. (A zotcurate
    choice: citeproc-js 2.4.63 prints nothing here, as zotcurate's adapter did.)"""
    csl = style('<group delimiter=" "><text value="presented at"/><text variable="event"/></group>')
    item = {"id": "a", "type": "paper-conference", "event-title": "Journées de la santé"}
    assert bib_html(csl, [item], "fr-FR") == ["presented at Journées de la santé"]


# --- text-case (blobs.text_case, elements.Text) -----------------------------------------------------------------

def test_title_case_only_for_english_items():
    """textcase_TitleCaseNonEnglish: title case is for English items only ("Un Titre De" was
    printed for a French title); an item without language takes the style's locale."""
    csl = style('<text variable="title" text-case="title"/>')
    items = [{"id": "en", "type": "book", "title": "the art of the title", "language": "en"},
             {"id": "fr", "type": "book", "title": "un titre de la santé", "language": "fr"},
             {"id": "none", "type": "book", "title": "un titre de la santé"}]
    assert bib_html(csl, items[:2]) == ["The Art of the Title", "un titre de la santé"]
    assert bib_html(csl, items[2:], "fr-FR") == ["un titre de la santé"]
    assert bib_html(csl, items[2:], "en-US") == ["Un Titre de La Santé"]


def test_text_case_applies_to_institution_names():
    """name_InstitutionDecoration: citeproc-js formats an institution like the family name
    part; citeproc-py left the institution as written when the style uppercases names."""
    csl = style("""<names variable="author"><name><name-part name="family" text-case="uppercase"/></name></names>""")
    item = {"id": "a", "type": "report", "title": "t", "author": [{"literal": "Haute Autorité de santé"}]}
    assert bib_html(csl, [item], "fr-FR") == ["HAUTE AUTORITÉ DE SANTÉ"]


# --- punctuation and quotes (blobs.adjust, blobs.QuoteTerms) ----------------------------------------------------

def test_no_doubled_punctuation_after_a_question_mark():
    """punctuation_DoNotSuppressColonAfterPeriod and the example's "santé ?.": a delimiter or
    suffix period after terminal punctuation is absorbed, as citeproc-js does (French puts a
    narrow no-break space before "?")."""
    csl = style('<group delimiter=". " suffix="."><text variable="title"/><text variable="publisher"/></group>')
    item = {"id": "a", "type": "book", "title": "Quelle santé ?", "publisher": "PUF"}
    assert bib_html(csl, [item], "fr-FR") == ["Quelle santé\u202f? PUF."]


def test_punctuation_moves_inside_quotes_when_the_locale_says_so():
    """affix_CommaAfterQuote: en-US has punctuation-in-quote="true" (the comma goes inside),
    fr-FR does not ("« titre », PUF", with no-break spaces inside the guillemets)."""
    csl = style('<group delimiter=", "><text variable="title" quotes="true"/><text variable="publisher"/></group>')
    item = {"id": "a", "type": "article", "title": "Titre", "publisher": "PUF"}
    assert bib_html(csl, [item], "en-US") == ["“Titre,” PUF"]
    assert bib_html(csl, [item], "fr-FR") == ["«\u00a0Titre\u00a0», PUF"]


def test_italics_inside_italics_flip_to_roman():
    """flipflop_ItalicsFlipped: rich-text <i> inside an italic title prints roman."""
    csl = style('<text variable="title" font-style="italic"/>')
    item = {"id": "a", "type": "book", "title": "On <i>Homo sapiens</i> today"}
    assert bib_html(csl, [item]) == ['<i>On <span style="font-style:normal;">Homo sapiens</span> today</i>']


# --- numbers (numbers.py) ---------------------------------------------------------------------------------------

def test_ordinal_edition_follows_the_item_language_locale():
    """number_NewOrdinalsEdition / the stray "Edition.": an edition number gets the locale's ordinal
    (citeproc-py looked terms up across locales and printed "3rd éd." in French)."""
    csl = style('<group delimiter=" "><number variable="edition" form="ordinal"/><label variable="edition" '
                'form="short"/></group>')
    item = {"id": "a", "type": "book", "edition": "3"}
    assert bib_html(csl, [item], "fr-FR") == ["3<sup>e</sup> éd."]
    assert bib_html(csl, [item], "en-US") == ["3rd ed."]


def test_page_range_format_chicago():
    """page_Chicago: citeproc-py's chicago and minimal page ranges were off ("1536–538");
    page_Chicago16, page_Minimal: roman numerals take the en dash, a range with letters on
    one side only is left as written."""
    csl = style('<text variable="page"/>', style_attrs='class="in-text" page-range-format="chicago"')
    pages = ["1536-1538", "321-328", "101-108", "xxv-xxviii", "N110-5", "S12-S15"]
    items = [{"id": str(n), "type": "book", "page": page} for n, page in enumerate(pages)]
    assert bib_html(csl, items) == ["1536–38", "321–28", "101–8", "xxv–xxviii", "N110-5", "S12–15"]


# --- the margin label of numeric styles (formatter.FormattedEntry) -----------------------------------------------

def test_left_margin_label_is_separated_from_the_entry():
    """display_SecondFieldAlignMigratePunctuation and the example's "[2]L. MORLET": the label in
    the margin comes apart (FormattedEntry.margin / body) and, in spans, one space separates it."""
    csl = style("""<text variable="citation-number" prefix="[" suffix="]"/>
        <names variable="author"><name initialize-with=". "/></names>""", bib_attrs='second-field-align="flush"')
    entry = CitationFormatter(csl, "fr-FR").format_entries([{**PERSON, "author": PERSON["author"][:1]}])[0]
    assert [s.text for s in entry.margin or []] == ["[1]"]
    assert "".join(s.text for s in entry.body or []) == "J.-M. Dupont"
    assert "".join(s.text for s in entry.spans or []) == "[1] J.-M. Dupont"


# --- what needs the whole document (processor.CslProcessor, disambiguation.Disambiguator) ----------------------

def _two_same_year() -> list[dict]:
    return [{"id": "a", "type": "book", "title": "Alpha", "author": [{"family": "Doe", "given": "J"}],
             "issued": {"date-parts": [[2020]]}},
            {"id": "b", "type": "book", "title": "Beta", "author": [{"family": "Doe", "given": "J"}],
             "issued": {"date-parts": [[2020]]}}]


def test_year_suffixes_disambiguate_same_author_same_year():
    """disambiguate_YearSuffixAndSort: citeproc-py never disambiguates (two "Doe 2020")."""
    csl = style('<group delimiter=", "><names variable="author"><name form="short"/></names>'
                '<date variable="issued"><date-part name="year"/></date></group>',
                citation='<group delimiter=" "><names variable="author"><name form="short"/></names>'
                         '<date variable="issued"><date-part name="year"/></date></group>',
                citation_attrs='disambiguate-add-year-suffix="true"')
    processor = CslProcessor(csl, _two_same_year(), "en-US")
    cited = processor.citations([CitationInput([CiteRef("a")], 1), CitationInput([CiteRef("b")], 2)])
    assert [c.text() for c in cited] == ["Doe 2020a", "Doe 2020b"]
    assert [e.text() for e in processor.bibliography()] == ["Doe, 2020a", "Doe, 2020b"]


def test_ibid_follows_document_order():
    """position_IbidWithLocator: positions come from the order of the citations (citeproc-py
    had no note positions)."""
    csl = style('<text variable="title"/>', style_attrs='class="note"',
                citation='<choose><if position="ibid-with-locator"><text term="ibid" suffix=", "/>'
                         '<text variable="locator"/></if><if position="ibid"><text term="ibid"/></if>'
                         '<else><text variable="title"/></else></choose>')
    items = [{"id": "a", "type": "book", "title": "Alpha"}]
    cited = CslProcessor(csl, items, "en-US").citations([
        CitationInput([CiteRef("a")], 1), CitationInput([CiteRef("a")], 2),
        CitationInput([CiteRef("a", locator="12", label="page")], 3)])
    assert [c.text() for c in cited] == ["Alpha", "Ibid.", "Ibid., 12"]


def test_citation_numbers_collapse_into_ranges():
    """collapse_CitationNumberRangesWithAffixes: "[1–3]" not "[1,2,3]"."""
    csl = style('<text variable="title"/>', citation='<text variable="citation-number"/>',
                citation_attrs='collapse="citation-number"',
                citation_layout_attrs='prefix="[" suffix="]" delimiter=","')
    items = [{"id": x, "type": "book", "title": x} for x in "abc"]
    cited = CslProcessor(csl, items, "en-US").citations([CitationInput([CiteRef("a"), CiteRef("b"), CiteRef("c")])])
    assert [c.text() for c in cited] == ["[1–3]"]


def test_subsequent_author_substitute():
    """magic_SubsequentAuthorSubstitute (bibliography): repeated leading names become "———"."""
    csl = style('<group delimiter=", "><names variable="author"/><text variable="title"/></group>',
                bib_attrs='subsequent-author-substitute="———"')
    items = [{"id": x, "type": "book", "title": x, "author": [{"family": "Doe", "given": "Jane"}]} for x in "ab"]
    assert bib_html(csl, items) == ["Jane Doe, a", "———, b"]


# --- what the engine does not do is said, once per feature (styles.unsupported_features) ------------------------

def test_features_the_output_does_not_carry_are_warnings():
    plain = style('<text variable="title"/>')
    assert CitationFormatter(plain, "en-US").warnings == []
    labelled = style('<text variable="citation-label" display="block"/><text variable="title"/>',
                     bib_attrs='hanging-indent="true"')
    warnings = CitationFormatter(labelled, "en-US").warnings
    assert len(warnings) == 3
    assert all(w.startswith("Style given as XML asks for a CSL feature zotcurate does not apply: ") for w in warnings)
    assert any("citation-label is printed only when the item has one" in w for w in warnings)
    assert any('display="block"' in w for w in warnings)
    assert any("hanging-indent" in w for w in warnings)
