"""Check profiles: the shipped default, user profiles extending it, and broken profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from zotcurate.check.profile import FORMAT_RULES, default_profile_text, load_profile
from zotcurate.cli import main
from zotcurate.errors import ConfigError, ExitCode


def write(tmp_path: Path, text: str, name: str = "profil.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def reqs(profile, item_type, overrides=()):
    return {r.id: r for r in profile.requirements(item_type, overrides)}


def test_default_profile_rules_per_type_resolve_base_fields():
    profile = load_profile()
    report = reqs(profile, "report")
    assert report["required:title"].severity == "error"
    assert report["required:institution"].any_of == ("institution",)
    # "publisher" in the "*" group becomes the report's own field name
    assert report["required:creator"].any_of == ("creator", "institution")
    assert report["required:extent"].any_of == ("pages", "extra:number-of-pages")
    assert report["conditional:url->accessDate"].when == ("url",)
    statute = reqs(profile, "statute")
    assert statute["required:title"].any_of == ("nameOfAct",)
    assert statute["required:date"].any_of == ("dateEnacted",)
    assert "required:creator" not in statute  # off for laws
    webpage = reqs(profile, "webpage")
    assert "required:extent" not in webpage
    assert webpage["required:creator"].any_of == ("creator", "publisher", "websiteTitle")
    assert reqs(profile, "journalArticle")["required:creator"].severity == "warning"
    # every format rule has a severity in the shipped default
    assert set(profile.format_severities()) == set(FORMAT_RULES)
    assert "off" not in profile.format_severities().values()


def test_user_profile_extends_the_default(tmp_path):
    path = write(tmp_path, """
[rules]
title-all-caps = "off"
"required:language" = "info"

[types."*"]
off = ["extent"]

[types.report]
warning = ["place", "date"]
info = ["reportNumber"]
conditional = [{ when = "url", then = "accessDate", severity = "error" }]
""")
    profile = load_profile(path)
    report = reqs(profile, "report")
    assert report["required:date"].severity == "warning"  # the type entry replaces "*"'s error
    assert report["required:place"].severity == "warning"
    assert report["required:reportNumber"].severity == "info"
    assert report["required:language"].severity == "info"
    assert report["conditional:url->accessDate"].severity == "error"
    assert report["required:title"].severity == "error"  # still inherited from the default
    assert "required:extent" not in report
    assert profile.rule_severity("title-all-caps") == "off"
    assert profile.rule_severity("isbn-checksum") == "error"
    assert reqs(profile, "book")["required:date"].severity == "error"  # other types keep the default


def test_extends_none_starts_from_nothing(tmp_path):
    path = write(tmp_path, 'extends = "none"\n[rules]\ndoi-format = "warning"\n[types."*"]\nerror = ["title"]\n')
    profile = load_profile(path)
    assert set(reqs(profile, "report")) == {"required:title"}
    assert profile.rule_severity("doi-format") == "warning"
    assert profile.rule_severity("isbn-checksum") == "off"


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ('[types.report]\nerror = ["title",\n  "pubisher"]\n', 3, "report has no field 'pubisher'; did you mean 'publisher'?"),
        ('\n\n[types.reprot]\nerror = ["title"]\n', 3, "'reprot' is not a Zotero item type; did you mean 'report'?"),
        ('[types."*"]\nwarning = ["langage"]\n', 2, "'langage' is not a Zotero field; did you mean 'language'?"),
        ('[rules]\nisbn-chekcsum = "error"\n', 2, "unknown rule 'isbn-chekcsum'; did you mean 'isbn-checksum'?"),
        ('[rules]\nisbn-checksum = "fatal"\n', 2, "'fatal' is not a severity"),
        ('[types.book]\nerror = ["creator:edtior"]\n', 2, "'edtior' is not a creator type of book; did you mean 'editor'?"),
        ('[types.report]\nof = ["title"]\n', 2, "unknown key 'of' in [types.report]"),
        ('[types.report]\noff = ["extnet"]\n', 2, "no field rule has the id 'required:extnet'; did you mean 'required:extent'?"),
        ('[setings]\n', 1, "unknown section 'setings' (allowed: extends, settings, rules, types, collections); did you mean 'settings'?"),
    ],
)
def test_a_typo_names_the_file_the_line_and_the_closest_name(tmp_path, text, line, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert expected in str(err.value)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_profile(write(tmp_path, "[types.report\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile(tmp_path / "nope.toml")


def test_collection_blocks_are_parsed_and_layered(tmp_path):
    path = write(tmp_path, """
[[collections]]
path = "Veille/2025"
rules = { "required:commentary" = "warning" }
[collections.types.journalArticle]
info = ["DOI"]
""")
    profile = load_profile(path)
    assert [c.ref for c in profile.collections] == ["Veille/2025"]
    assert profile.collections[0].origin == f"{path}:3"  # the line naming the collection
    plain = reqs(profile, "journalArticle")
    inside = reqs(profile, "journalArticle", (0,))
    assert plain["required:commentary"].severity == "error"
    assert inside["required:commentary"].severity == "warning"
    assert "required:DOI" not in plain and inside["required:DOI"].severity == "info"


def test_shipped_default_documents_every_rule():
    text = default_profile_text()
    for rule in FORMAT_RULES:
        assert f"\n{rule} = " in text, rule


def test_profile_show_prints_the_effective_table(tmp_path, capsys):
    path = write(tmp_path, '[types.report]\nwarning = ["place"]\n')
    assert main(["profile", "show", "--profile", str(path), "--type", "report"], env={}) == ExitCode.OK
    out = capsys.readouterr().out
    assert "required:institution" in out and "required:place" in out
    assert f"{path.name}:2" in out  # where the rule comes from
    assert "isbn-checksum" in out


def test_profile_show_json_and_a_broken_profile_on_the_command_line(tmp_path, capsys):
    assert main(["profile", "show", "--format", "json", "--type", "statute"], env={}) == ExitCode.OK
    import json

    rows = json.loads(capsys.readouterr().out)
    statute = {r["rule"]: r for r in rows if r["scope"] == "statute"}
    assert statute["required:title"]["fields"] == "nameOfAct"
    assert statute["required:creator"]["severity"] == "off"
    bad = write(tmp_path, '[types.report]\nerror = ["instituton"]\n')
    assert main(["profile", "show", "--profile", str(bad)], env={}) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "did you mean 'institution'?" in err and "Traceback" not in err


def test_profile_show_without_type_lists_the_inherited_section(capsys):
    assert main(["profile", "show", "--format", "json"], env={}) == ExitCode.OK
    import json

    rows = json.loads(capsys.readouterr().out)
    star = {r["rule"]: r for r in rows if r["scope"] == "*"}
    assert star["required:link"]["fields"] == "url | DOI | extra:bib-access=on-request | tag:bib:disponible-sur-demande"
    assert star["conditional:url->accessDate"]["when"] == "url"
    assert {r["scope"] for r in rows} >= {"all types", "*", "report", "statute", "webpage"}
