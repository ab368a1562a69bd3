"""`chatshop kb import` / `kb export`: YAML, CSV and XLSX, round trips, and bad rows refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatshop.cli import main
from intents.errors import KnowledgeBaseError
from intents.kb import Card, load_knowledge_base
from intents.kb_io import export_knowledge_base, read_knowledge_base
from tests.support import DEMO_KB, fixture_path


def _fixture(name: str) -> Path:
    return fixture_path(f"kb/{name}")


# --------------------------------------------------------------------------- reading the formats


# import_good_gbk.csv: the same rows as Excel on a Chinese Windows saves them (GB18030).
@pytest.mark.parametrize("name", ["import_good.csv", "import_good_gbk.csv", "import_good.xlsx"])
def test_a_table_reads_into_faqs_with_cards_flags_and_phrasings(name: str) -> None:
    kb = read_knowledge_base(_fixture(name))
    assert [faq.id for faq in kb.faqs] == ["shipping_time", "new_arrivals", "size_guide", "double_eleven"]
    shipping, arrivals, size, eleven = kb.faqs
    assert shipping.similar == ("下单后多久发货", "几天能发出", "今天下单今天发吗")
    assert shipping.answer == "现货订单16:00前付款当天发出，\n最迟48小时内发货。"  # a line break inside a cell
    assert shipping.popular and shipping.enabled and shipping.card is None
    assert arrivals.answer == "" and arrivals.card == Card("本周新品", "pages/new/index", "MEDIA_THUMB_NEW")
    assert size.card is not None and size.card.appid == "wx1234567890abcdef" and size.answer
    assert not size.popular
    assert not eleven.enabled
    assert kb.by_id("double_eleven") is None


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".csv", ".xlsx"])
def test_export_then_import_round_trips_the_demo_kb(suffix: str, kb_path: Path, tmp_path: Path) -> None:
    # Given the demo KB (cards, a disabled entry, popular flags) as kb.path
    original = load_knowledge_base(kb_path)
    exported = tmp_path / f"export{suffix}"
    # When it is exported, kb.path is emptied, and the export imported back
    assert main(["kb", "export", str(exported)]) == 0
    kb_path.write_text("faqs: []\n", encoding="utf-8")
    assert main(["kb", "import", str(exported)]) == 0
    # Then the knowledge base is exactly what it was
    assert load_knowledge_base(kb_path) == original


@pytest.mark.parametrize("name", ["import_good.csv", "import_good.xlsx"])
@pytest.mark.parametrize("suffix", [".yaml", ".csv", ".xlsx"])
def test_every_format_round_trips_a_table_import(name: str, suffix: str, tmp_path: Path) -> None:
    kb = read_knowledge_base(_fixture(name))
    target = tmp_path / f"again{suffix}"
    export_knowledge_base(kb, target)
    assert read_knowledge_base(target) == kb


def test_import_replaces_the_kb_and_reports_what_it_did(kb_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "import", str(_fixture("import_good.csv"))]) == 0
    assert [faq.id for faq in load_knowledge_base(kb_path).faqs] == [
        "shipping_time", "new_arrivals", "size_guide", "double_eleven",
    ]  # fmt: skip
    assert "imported 4 FAQs (3 enabled)" in capsys.readouterr().out
    assert not [p for p in kb_path.parent.iterdir() if p.name != "kb.yaml"], "no temporary file left behind"


def test_a_yaml_import_keeps_its_comments(kb_path: Path, tmp_path: Path) -> None:
    # Given a hand-edited YAML KB with comments
    source = tmp_path / "edited.yaml"
    text = DEMO_KB.read_text(encoding="utf-8").replace("faqs:", "# checked by the shop manager\nfaqs:", 1)
    source.write_text(text, encoding="utf-8")
    # When it is imported
    assert main(["kb", "import", str(source)]) == 0
    # Then the KB file is that text, comments and all, and it reads as the same KB
    assert kb_path.read_text(encoding="utf-8") == text
    assert load_knowledge_base(kb_path) == load_knowledge_base(DEMO_KB)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("import_bad_row.csv", ["row 4", "id 'refund_timing'", "missing or empty 'question'"]),
        ("import_bad_flag.csv", ["row 3", "id 'shipping_fee'", "'enabled' must be true or false"]),
        ("import_bad_header.csv", ["row 1 (header)", "unknown column(s) answr"]),
        ("import_bad_row.xlsx", ["row 3", "id 'shipping_fee'", "missing or empty 'answer'"]),
        ("import_bad_row.yaml", ["line 10", "id 'refund_timing'", "may not contain '|'"]),
    ],
)
def test_a_bad_row_is_reported_with_its_line_and_nothing_is_imported(
    name: str, fragments: list[str], kb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the current KB file
    before = kb_path.read_bytes()
    # When a file with one bad entry is imported
    status = main(["kb", "import", str(_fixture(name))])
    # Then the command fails naming the file, the row or line, the entry and the problem
    err = capsys.readouterr().err
    assert status == 1
    assert str(_fixture(name)) in err
    for fragment in fragments:
        assert fragment in err
    assert "nothing was imported" in err
    # And kb.path is byte for byte what it was, with no temporary file beside it
    assert kb_path.read_bytes() == before
    assert [p.name for p in kb_path.parent.iterdir()] == ["kb.yaml"]


@pytest.mark.parametrize("name", ["kb.json", "kb"])
def test_an_unknown_format_is_refused(name: str, kb_path: Path, tmp_path: Path) -> None:
    source = tmp_path / name
    source.write_text("{}", encoding="utf-8")
    before = kb_path.read_bytes()
    assert main(["kb", "import", str(source)]) == 1
    assert main(["kb", "export", str(tmp_path / "out.txt")]) == 1
    assert kb_path.read_bytes() == before
    assert not (tmp_path / "out.txt").exists()


def test_a_corrupt_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kb.xlsx"
    path.write_bytes(b"not a zip file")
    with pytest.raises(KnowledgeBaseError, match="not a readable XLSX workbook"):
        read_knowledge_base(path)

