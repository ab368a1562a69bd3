"""A customer's words as catalog search terms (`intents.search.SearchTerms`), with the shipped lexicons."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents.search import SearchTerms, load_widenings


@pytest.fixture(scope="module")
def terms() -> SearchTerms:
    return SearchTerms()


@pytest.mark.parametrize(("text", "expected"), [
    ("有没有连衣裙", [("连衣裙",)]),
    ("搵连衣裙", [("连衣裙",)]),  # Cantonese 搵 (找) only says the customer is looking
    ("推荐一款T恤", [("t恤",)]),
    ("有没有红色M码的卫衣", [("卫衣",)]),  # a colour and a size pick the SKU, not the product
])
def test_words_that_only_say_someone_is_looking_are_left_out(terms: SearchTerms, text: str,
                                                              expected: list[tuple[str, ...]]) -> None:
    assert terms.terms(text) == expected


def test_a_broad_word_is_widened_to_the_kinds_it_covers(terms: SearchTerms) -> None:
    assert terms.terms("有冇裙子") == [("裙子", "裙")]
    assert terms.terms("外套")[0][:3] == ("外套", "大衣", "风衣")


def test_synonyms_join_the_customers_own_word_which_comes_first(terms: SearchTerms) -> None:
    [group] = terms.terms("想买面霜")
    assert group[0] == "面霜" and {"护肤品", "精华", "爽肤水"} <= set(group)
    [makeup] = terms.terms("彩妆")
    assert makeup[:2] == ("彩妆", "化妆品")


def test_each_thing_named_is_a_group_of_its_own(terms: SearchTerms) -> None:
    assert terms.terms("男士衬衫") == [("男士", "男装", "男款"), ("衬衫",)]


def test_a_message_naming_nothing_to_search_gives_no_terms(terms: SearchTerms) -> None:
    assert terms.terms("有啥推荐") == [] and terms.terms("有没有黑色的") == [] and terms.terms("") == []


def test_a_widening_line_must_name_what_it_widens_to(tmp_path: Path) -> None:
    bad = tmp_path / "search.txt"
    bad.write_text("# a comment\n裙子: 裙\n裤子\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"search.txt:3"):
        load_widenings(bad)
