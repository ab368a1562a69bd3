"""KB cards name an image (uploaded as each account's thumbnail by the bot): an import, and a hot reload,
refuse a card whose image is not there, naming the FAQ and the file; older files' media ids still read."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from chatshop.cards_wiring import DEMO_IMAGES, image_library
from chatshop.cli import main
from chatshop.settings import load_settings
from intents.kb import Card, load_knowledge_base
from intents.kb_io import export_knowledge_base, read_knowledge_base
from intents.kb_source import KnowledgeBaseSource
from tests.support import DEMO_KB, fixture_path

MISSING = DEMO_IMAGES / "no-such-picture.jpg"


@pytest.mark.parametrize(("name", "where"), [("card_image_missing.yaml", "line 5"),
                                             ("card_image_missing.csv", "row 3")])
def test_an_import_refuses_a_card_whose_image_is_missing(name: str, where: str, kb_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = kb_path.read_bytes()
    assert main(["kb", "import", str(fixture_path(f"kb/{name}"))]) == 1
    error = capsys.readouterr().err
    assert f"{where}: faqs[1] (id 'new_arrivals'): card: image /images/demo/no-such-picture.jpg" in error
    assert f"no file {MISSING}" in error
    assert kb_path.read_bytes() == before  # nothing imported


def test_an_import_takes_cards_with_images_and_older_media_ids(kb_path: Path) -> None:
    assert main(["kb", "import", str(fixture_path("kb/card_image.yaml"))]) == 0
    arrivals, size = load_knowledge_base(kb_path).faqs
    assert arrivals.card == Card(title="本周新品", pagepath="pages/new/index", image="/images/demo/new-arrivals.jpg")
    assert size.card is not None and size.card.thumb_media_id == "MEDIA_ID_FROM_AN_OLDER_FILE"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".yaml"])
def test_card_images_survive_every_format(suffix: str, tmp_path: Path) -> None:
    kb = read_knowledge_base(fixture_path("kb/card_image.yaml"))
    export_knowledge_base(kb, tmp_path / f"again{suffix}")
    assert read_knowledge_base(tmp_path / f"again{suffix}") == kb


def test_the_demo_kb_names_images_that_exist() -> None:
    check = image_library(load_settings()).problem
    kb = load_knowledge_base(DEMO_KB, check_image=check)
    images = [faq.card.image for faq in kb.faqs if faq.card is not None]
    assert images == ["/images/demo/size-guide.jpg", "/images/demo/new-arrivals.jpg"]


def test_a_hot_reload_keeps_the_last_good_kb_when_a_card_image_is_missing(tmp_path: Path) -> None:
    checked, unchecked = tmp_path / "checked.yaml", tmp_path / "unchecked.yaml"
    now = [0.0]
    sources = {}
    for path, check in ((checked, image_library(load_settings()).problem), (unchecked, None)):
        shutil.copyfile(fixture_path("kb/card_image.yaml"), path)
        sources[path] = KnowledgeBaseSource(path, background=False, clock=lambda: now[0], check_image=check)
    # When each file is edited to a card whose image is not there
    time.sleep(0.01)
    for path in sources:
        shutil.copyfile(fixture_path("kb/card_image_missing.yaml"), path)
    now[0] += 5
    # Then the service that checks images refuses the edit and the last good KB answers
    assert [faq.id for faq in sources[checked].knowledge_base().faqs] == ["new_arrivals", "size_chart"]
    assert [faq.id for faq in sources[unchecked].knowledge_base().faqs] == ["shipping_time", "new_arrivals"]
