"""Editing one FAQ of the KB file (intents.kb_edit): the rest of the file is kept byte for byte, every edit is
validated by the bot's own loader before the file is replaced (atomically), a broken edit or a stale version
leaves the file as it was, and two editors of one version cannot both save."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from intents.kb import faq_to_mapping, load_knowledge_base
from intents.kb_edit import (
    BrokenKnowledgeBase,
    FaqNotFound,
    InvalidEdit,
    StaleKnowledgeBase,
    add_faq,
    add_phrasing,
    change_faq,
    kb_with_faq,
    read_kb_file,
    remove_faq,
    unsaved_faq,
)
from tests.support import DEMO_KB

SMALL_KB = """\
# The shop's FAQs (a hand-written comment that must survive edits)
faqs:
  # ---- 物流
  - id: shipping_fee
    question: 运费多少钱？
    similar: [包邮吗, 邮费怎么算]
    answer: 满99元包邮。
    category: 物流

  - id: invoice
    question: 可以开发票吗？
    answer: 可以，确认收货后申请。  # inline note
    category: 发票

  # ---- 售后
  - id: returns
    question: 可以退货吗？
    similar:
      - 能退吗
      - 七天无理由吗
    answer: 支持7天无理由退货。
"""


@pytest.fixture
def kb_file(tmp_path: Path) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(SMALL_KB, encoding="utf-8")
    return path


def entry_of(path: Path, faq_id: str) -> dict[str, object]:
    return faq_to_mapping(read_kb_file(path).faq(faq_id))


def test_a_change_rewrites_only_its_entry_and_the_bot_loads_it(kb_file: Path) -> None:
    current = read_kb_file(kb_file)
    entry = {**entry_of(kb_file, "invoice"), "similar": ["能开票吗", "要发票"], "answer": "可以，订单详情里申请开票。"}

    saved = change_faq(kb_file, faq_id="invoice", entry=entry, version=current.version)

    text = kb_file.read_text(encoding="utf-8")
    assert text == SMALL_KB.replace(
        "    answer: 可以，确认收货后申请。  # inline note\n",
        "    similar: [能开票吗, 要发票]\n    answer: 可以，订单详情里申请开票。\n")
    # What the bot's loader makes of the file: the edit, and every other entry as it was
    loaded = load_knowledge_base(kb_file)
    assert loaded.faqs == saved.file.kb.faqs
    assert [faq.id for faq in loaded.faqs] == ["shipping_fee", "invoice", "returns"]
    assert loaded.faqs[1].similar == ("能开票吗", "要发票")
    assert loaded.faqs[2].similar == ("能退吗", "七天无理由吗")
    assert saved.file.version != current.version
    assert saved.file.version == read_kb_file(kb_file).version


def test_a_new_faq_goes_at_the_end_in_the_files_layout(kb_file: Path) -> None:
    version = read_kb_file(kb_file).version

    add_faq(kb_file, entry={"id": "store_address", "question": "门店在哪里？", "similar": ["实体店地址"],
                            "answer": "北京路168号2楼。", "category": "门店"}, version=version)

    assert kb_file.read_text(encoding="utf-8") == SMALL_KB + (
        "\n  - id: store_address\n    question: 门店在哪里？\n    similar: [实体店地址]\n"
        "    answer: 北京路168号2楼。\n    category: 门店\n")
    assert load_knowledge_base(kb_file).faqs[-1].question == "门店在哪里？"


def test_an_id_in_use_is_refused_for_a_new_faq(kb_file: Path) -> None:
    with pytest.raises(InvalidEdit, match="in use already") as refused:
        add_faq(kb_file, entry={"id": "invoice", "question": "发票？", "answer": "可以"},
                version=read_kb_file(kb_file).version)
    assert refused.value.field == "id"
    assert kb_file.read_text(encoding="utf-8") == SMALL_KB


def test_removing_an_faq_keeps_its_neighbours_and_their_comments(kb_file: Path) -> None:
    remove_faq(kb_file, faq_id="invoice", version=read_kb_file(kb_file).version)

    text = kb_file.read_text(encoding="utf-8")
    assert "invoice" not in text
    assert "# ---- 售后" in text and "# The shop's FAQs" in text
    assert "\n\n\n" not in text
    assert [faq.id for faq in load_knowledge_base(kb_file).faqs] == ["shipping_fee", "returns"]


def test_a_phrasing_is_added_to_the_similar_list(kb_file: Path) -> None:
    add_phrasing(kb_file, faq_id="returns", text=" 不喜欢能退不 ")

    assert load_knowledge_base(kb_file).faqs[2].similar == ("能退吗", "七天无理由吗", "不喜欢能退不")
    # ... once: the same wording again is refused, naming the member
    with pytest.raises(InvalidEdit, match="already") as refused:
        add_phrasing(kb_file, faq_id="returns", text="不喜欢能退不")
    assert refused.value.field == "text"


@pytest.mark.parametrize(("change", "field", "problem"), [
    ({"answer": ""}, "answer", "missing or empty 'answer'"),
    ({"question": "？？"}, "question", "'question' has no letters or digits"),
    ({"similar": ["能退吗", "退|换"]}, "similar", "may not contain '|'"),
    ({"card": {"title": "退货说明"}}, "card.pagepath", "card: missing or empty 'pagepath'"),
    ({"enabled": "yes"}, "enabled", "'enabled' must be true or false"),
])
def test_a_broken_edit_is_refused_with_the_parsers_message_and_the_file_unchanged(
    kb_file: Path, change: dict[str, object], field: str, problem: str,
) -> None:
    before = kb_file.stat()
    entry = {**entry_of(kb_file, "returns"), **change}

    with pytest.raises(InvalidEdit) as refused:
        change_faq(kb_file, faq_id="returns", entry=entry, version=read_kb_file(kb_file).version)

    # The loader's own wording, with the file, the entry's index and its id
    assert problem in refused.value.message
    assert f"{kb_file}: edit: faqs[2] (id 'returns')" in refused.value.message
    assert refused.value.field == field
    assert kb_file.read_text(encoding="utf-8") == SMALL_KB
    assert (kb_file.stat().st_ino, kb_file.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in kb_file.parent.iterdir()) == [".kb.yaml.lock", "kb.yaml"]  # no temporary left


def test_an_image_the_bot_cannot_use_is_refused_like_the_bot_refuses_it(kb_file: Path) -> None:
    card = {"title": "退货说明", "pagepath": "pages/help/returns", "image": "/images/missing.jpg"}
    with pytest.raises(InvalidEdit, match="cannot be used: no such image"):
        change_faq(kb_file, faq_id="returns", entry={**entry_of(kb_file, "returns"), "card": card},
                   version=read_kb_file(kb_file).version, check_image=lambda image: "no such image")
    assert kb_file.read_text(encoding="utf-8") == SMALL_KB


def test_a_stale_version_is_refused_so_the_first_save_is_not_lost(kb_file: Path) -> None:
    # Two admins open the same file
    seen = read_kb_file(kb_file).version
    first = {**entry_of(kb_file, "invoice"), "answer": "第一位管理员的答案"}
    second = {**entry_of(kb_file, "shipping_fee"), "answer": "第二位管理员的答案"}

    saved = change_faq(kb_file, faq_id="invoice", entry=first, version=seen)
    with pytest.raises(StaleKnowledgeBase) as refused:
        change_faq(kb_file, faq_id="shipping_fee", entry=second, version=seen)

    assert refused.value.version == saved.file.version
    text = kb_file.read_text(encoding="utf-8")
    assert "第一位管理员的答案" in text and "第二位管理员的答案" not in text
    # With the current version, the second admin's edit goes in beside the first
    change_faq(kb_file, faq_id="shipping_fee", entry=second, version=refused.value.version)
    answers = {faq.id: faq.answer for faq in load_knowledge_base(kb_file).faqs}
    assert answers["invoice"] == "第一位管理员的答案" and answers["shipping_fee"] == "第二位管理员的答案"


def test_a_hand_edit_in_between_makes_the_version_stale_too(kb_file: Path) -> None:
    seen = read_kb_file(kb_file).version
    kb_file.write_text(SMALL_KB.replace("满99元包邮。", "满88元包邮。"), encoding="utf-8")
    with pytest.raises(StaleKnowledgeBase):
        remove_faq(kb_file, faq_id="invoice", version=seen)
    assert "invoice" in kb_file.read_text(encoding="utf-8")


def test_concurrent_editors_of_one_version_save_exactly_once(kb_file: Path) -> None:
    seen = read_kb_file(kb_file).version
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def edit(number: int) -> None:
        entry = {**entry_of(kb_file, "invoice"), "answer": f"答案{number}"}
        start.wait()
        try:
            change_faq(kb_file, faq_id="invoice", entry=entry, version=seen)
            outcomes.append(f"saved {number}")
        except StaleKnowledgeBase:
            outcomes.append("stale")

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    saved = [outcome for outcome in outcomes if outcome.startswith("saved")]
    assert len(saved) == 1 and outcomes.count("stale") == 5
    assert load_knowledge_base(kb_file).faqs[1].answer == f"答案{saved[0].split()[1]}"


def test_the_file_is_replaced_atomically(kb_file: Path) -> None:
    inode = kb_file.stat().st_ino
    with open(kb_file, encoding="utf-8") as holder:  # a reader holding the old file keeps reading the old bytes
        change_faq(kb_file, faq_id="invoice", entry={**entry_of(kb_file, "invoice"), "answer": "新答案"},
                   version=read_kb_file(kb_file).version)
        assert holder.read() == SMALL_KB
    assert kb_file.stat().st_ino != inode  # a new file took the name (os.replace), never a half-written one
    assert not [p for p in kb_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_unknown_faq_and_broken_file_are_refused(kb_file: Path) -> None:
    version = read_kb_file(kb_file).version
    with pytest.raises(FaqNotFound):
        change_faq(kb_file, faq_id="nope", entry={"question": "?", "answer": "a"}, version=version)
    kb_file.write_text(SMALL_KB.replace("  - id: returns\n", "  - id: Returns\n"), encoding="utf-8")
    with pytest.raises(BrokenKnowledgeBase, match="snake_case"):
        read_kb_file(kb_file)


def test_the_demo_kb_keeps_every_other_line_through_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    shutil.copy(DEMO_KB, path)
    before = path.read_text(encoding="utf-8").splitlines()
    current = read_kb_file(path)
    entry = {**faq_to_mapping(current.faq("shipping_fee")), "answer": "运费说明\n第二行"}

    change_faq(path, faq_id="shipping_fee", entry=entry, version=current.version)

    after = path.read_text(encoding="utf-8").splitlines()
    gone = [line for line in before if line not in after]
    assert gone == [line for line in before if line.startswith("    answer: 中国大陆地区")]
    assert load_knowledge_base(path).faqs[2].answer == "运费说明\n第二行"
    assert os.access(path, os.R_OK)


def test_an_unsaved_faq_can_be_tried_in_place_of_its_saved_self(kb_file: Path) -> None:
    kb = read_kb_file(kb_file).kb
    edited = unsaved_faq({"id": "invoice", "question": "可以开发票吗？", "answer": "新"})
    assert [faq.answer for faq in kb_with_faq(kb, edited).faqs] == ["满99元包邮。", "新", "支持7天无理由退货。"]
    new = unsaved_faq({"id": "brand_new", "question": "新问题", "answer": "新"})
    assert [faq.id for faq in kb_with_faq(kb, new).faqs] == ["shipping_fee", "invoice", "returns", "brand_new"]
    # An unsaved entry is refused as a file's would be, naming the member
    with pytest.raises(InvalidEdit, match="'question' has no letters or digits") as refused:
        unsaved_faq({"id": "invoice", "question": "？", "answer": "新"})
    assert refused.value.field == "question"
