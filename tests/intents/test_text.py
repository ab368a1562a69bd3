"""The Chinese text pipeline: normalisation, jieba with user words, and the synonym lexicon."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents.text import Tokeniser, load_pleasantries, load_stop_words, load_synonyms, made_only_of, normalise


@pytest.fixture(scope="module")
def tokeniser() -> Tokeniser:
    return Tokeniser(user_words=["法式碎花连衣裙", "小香风外套"])


# --------------------------------------------------------------------------- normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＸＬ码还有吗", "xl码还有吗"),  # full-width letters to half-width, lower case
        ("满９９包邮", "满99包邮"),  # full-width digits
        ("運費怎麼算", "运费怎么算"),  # traditional to simplified
        ("退貨運費誰付", "退货运费谁付"),
        ("包邮吗？？😊", "包邮吗"),  # punctuation and emoji removed at the end
        ("亲，请问😂什么时候发货！", "亲 请问 什么时候发货"),  # ... and turned into spaces inside
        ("  运费 \t 多少\n钱  ", "运费 多少 钱"),  # whitespace collapsed
        ("我158 95斤", "我158 95斤"),  # numbers stay apart
        ("👍🏻…… !", ""),
        ("", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_is_idempotent() -> None:
    for text in ["ＡＢＣ，運費？😊", "亲 请问 什么时候发货", "Ｍ码　还有吗!"]:
        once = normalise(text)
        assert normalise(once) == once


# --------------------------------------------------------------------------- tokeniser


def test_synonyms_become_their_canonical_word(tokeniser: Tokeniser) -> None:
    # Given two ways of asking about postage
    # Then both give the same tokens
    assert tokeniser.tokens("邮费多少") == tokeniser.tokens("运费多少") == ["运费", "多少"]
    assert tokeniser.tokens("什么时候寄出") == ["什么时候", "发货"]
    assert tokeniser.tokens("包裹到哪了")[0] == "快递"


def test_traditional_and_full_width_text_gives_the_same_tokens(tokeniser: Tokeniser) -> None:
    assert tokeniser.tokens("幾時發貨呀？") == tokeniser.tokens("几时发货呀") == ["什么时候", "发货", "呀"]
    assert tokeniser.tokens("ＸＬ码") == tokeniser.tokens("xl码")


def test_user_words_are_cut_whole(tokeniser: Tokeniser) -> None:
    # Given a catalog product name the jieba dictionary does not know
    plain = Tokeniser()
    assert "法式碎花连衣裙" not in plain.tokens("法式碎花连衣裙什么时候发货")
    # Then a tokeniser given it as a user word keeps it whole
    assert tokeniser.tokens("法式碎花连衣裙什么时候发货") == ["法式碎花连衣裙", "什么时候", "发货"]
    assert "法式碎花连衣裙" in tokeniser.user_words


def test_tokenisers_do_not_share_user_words(tokeniser: Tokeniser) -> None:
    other = Tokeniser(user_words=["碎花连"])
    assert "小香风外套" in tokeniser.tokens("小香风外套有货吗")
    assert "小香风外套" not in other.tokens("小香风外套有货吗")


def test_custom_synonyms_replace_the_shipped_lexicon() -> None:
    custom = Tokeniser(synonyms={"顺丰": "快递公司"})
    assert custom.tokens("发顺丰吗") == ["发", "快递公司", "吗"]
    assert custom.tokens("邮费多少") == ["邮费", "多少"]  # the shipped lexicon is not in use


def test_cantonese_asks_the_same_as_mandarin(tokeniser: Tokeniser) -> None:
    # Given the way a Guangzhou customer types, in traditional characters
    # Then the question words, negation and particles come out as the Mandarin ones
    assert tokeniser.tokens("係咪七日無理由㗎") == ["是不是", "七日", "没有", "理由", "㗎"]
    assert "㗎" in load_stop_words()  # a particle: how it is asked, not what
    assert tokeniser.tokens("積分喺邊度睇") == ["积分", "哪里", "看"]
    assert tokeniser.tokens("去上海幾耐到") == tokeniser.tokens("去上海多久到")
    assert tokeniser.tokens("有冇小样送") == tokeniser.tokens("有没有小样送")


def test_english_words_mixed_in_become_the_chinese_ones(tokeniser: Tokeniser) -> None:
    assert tokeniser.tokens("可以refund吗") == tokeniser.tokens("可以退款吗")
    assert tokeniser.tokens("送sample吗") == tokeniser.tokens("送小样吗")
    assert tokeniser.tokens("Size怎么选") == tokeniser.tokens("尺码怎么选")


def test_empty_or_symbol_only_text_has_no_tokens(tokeniser: Tokeniser) -> None:
    for text in ["", "   ", "？？？", "😂😂😂"]:
        assert tokeniser.tokens(text) == []


# --------------------------------------------------------------------------- lexicon files


def test_the_shipped_lexicon_maps_the_common_e_commerce_variants() -> None:
    synonyms = load_synonyms()
    assert synonyms["寄出"] == "发货"
    assert synonyms["邮费"] == "运费"
    assert synonyms["包裹"] == "快递"
    assert all(" " not in canonical for canonical in synonyms.values())
    assert {"吗", "请问", "的"} <= load_stop_words()


def test_a_lexicon_file_is_normalised_when_read(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("# comment\n\n运费: 郵費 ＦＥＥ\n", encoding="utf-8")
    assert load_synonyms(path) == {"邮费": "运费", "fee": "运费"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("运费 邮费\n", "expected `canonical: variant"),
        ("运费: 邮费\n快递: 邮费\n", "already a synonym of '运费'"),
    ],
)
def test_a_bad_lexicon_line_is_refused_with_its_line_number(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        load_synonyms(path)
    assert f"{path}:{content.count(chr(10))}" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("好的收到", True), ("收到 谢谢", True), ("收到了", True), ("还没收到", False), ("收到货了", False), ("", False)],
)
def test_made_only_of_reads_runs_of_the_given_words(text: str, expected: bool) -> None:
    words = load_pleasantries() | load_stop_words()
    assert made_only_of(normalise(text), words) is expected
