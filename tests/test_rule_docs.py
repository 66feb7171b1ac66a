"""docs/rules/ holds one page per rule (as ruff does), generated from the rule modules: it must never go stale."""
from pathlib import Path

from click.testing import CliRunner

from losslint.checks import all_rules
from losslint.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs" / "rules"


def test_committed_rule_pages_match_the_rule_modules(tmp_path):
    result = CliRunner().invoke(main, ["rules", "--write-docs", str(tmp_path / "rules")])
    assert result.exit_code == 0, result.output
    generated = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "rules").iterdir()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in DOCS.iterdir()}
    stale = sorted(name for name in generated if committed.get(name) != generated[name])
    assert not stale, f"docs/rules out of date for {stale}: run `losslint rules --write-docs docs/rules`"
    assert set(committed) == set(generated)


def test_every_rule_has_a_page_with_its_defaults():
    for code, found in all_rules().items():
        page = (DOCS / f"{code}.md").read_text(encoding="utf-8")
        assert page.startswith(f"# {code} {found.name}")
        for name in found.defaults:
            assert f"\n{name} = " in page, (code, name)
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert all(f"[{code}]({code}.md)" in index for code in all_rules())
