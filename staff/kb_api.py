"""The knowledge base for the back office: FAQs and phrasings, 试一试, unanswered questions (admins).

Edits go to the KB file (`backoffice.kb_path`) through `intents.kb_edit`: one entry changed, the whole KB
validated by the bot's own parser, the file replaced atomically, a stale `version` refused with 409 so that
of two admins editing at once neither loses an edit unseen. The running bot reloads the file as it does any
edit; a write waits (a few seconds at most) until it has, and says whether the edit is in force
(`reloaded`), so the page can tell staff "已生效".

试一试 matches a sentence as the running bot would — its matcher, its thresholds — or, with an unsaved edit,
against the running KB with that edit applied.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from bot.gaps import choices_since, unanswered_since
from intents.bank import load_question_bank
from intents.errors import KnowledgeBaseError
from intents.gaps import cluster_questions
from intents.kb import Faq, ImageCheck, KnowledgeBase, MatchResult, Outcome
from intents.kb_edit import (
    BrokenKnowledgeBase,
    FaqNotFound,
    InvalidEdit,
    KbFile,
    SavedKb,
    StaleKnowledgeBase,
    add_faq,
    add_phrasing,
    change_faq,
    kb_with_faq,
    read_kb_file,
    remove_faq,
    unsaved_faq,
)
from intents.kb_source import KnowledgeBaseSource, Signature, file_signature
from intents.matcher import BORROW_UNTIL, FaqMatcher
from staff.backoffice import BackOffice, BackOfficeBackend
from staff.roles import Principal, Role, RoleCheck
from storage.clock import utcnow
from web.errors import ApiError
from web.schemas import StrictBody

FAQ_ID = Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="the FAQ's id")
RELOAD_WAIT_S = 8.0  # a large KB takes seconds to index on a busy machine; the page polls on after this
_RELOAD_POLL_S = 0.1
_TEXT = 500  # a phrasing, a question or a tried sentence (the webhook keeps 500 characters of a question)
_TRIED_MATCHERS = 4  # matchers of unsaved edits kept, so trying the same edit again is instant




class KbUnavailable(ApiError):
    """This service has no back office, or no running bot whose KB could be tried."""

    code = "KB_UNAVAILABLE"
    status = 503


class KbFaqNotFound(ApiError):
    code = "FAQ_NOT_FOUND"
    status = 404


class KbChanged(ApiError):
    """The file changed since it was read: `version` is the current one."""

    code = "KB_CHANGED"
    status = 409


class KbBroken(ApiError):
    """The KB file as it is cannot be read (a broken hand edit); the bot keeps its last good KB."""

    code = "KB_BROKEN"
    status = 409


class InvalidFaq(ApiError):
    """The edit breaks a rule of the KB (the parser's message); `field` names the member."""

    code = "INVALID_FAQ"
    status = 422


KB_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "FAQ_NOT_FOUND"},
    409: {"description": "KB_CHANGED (a stale `version`: another edit was saved; `version` is the current one), "
                         "KB_BROKEN (the file cannot be read as it is)"},
    422: {"description": "INVALID_FAQ: the bot's parser refused the edit (`field` names the member), or INVALID_INPUT"},
    503: {"description": "KB_UNAVAILABLE: no back office on this service, or (试一试, gaps) no running bot"},
}


# ----- bodies -----------------------------------------------------------------------------------------


class CardIn(StrictBody):
    title: str = Field(max_length=64)
    pagepath: str = Field(max_length=512, description="a mini-program page, e.g. pages/product/index?id=1")
    image: str = Field("", max_length=512, description="an http(s) URL or an /images/ path")
    appid: str = Field("", max_length=64, description="empty: the store's own mini-program")
    thumb_media_id: str = Field("", max_length=128, description="older files: a media id instead of an image")


class FaqIn(StrictBody):
    question: str = Field(max_length=_TEXT, description="the canonical wording")
    similar: list[str] = Field(default_factory=list, max_length=300, description="other ways customers ask it")
    answer: str = Field("", max_length=2000, description="may be empty when the answer is a card")
    card: CardIn | None = None
    category: str = Field("", max_length=40)
    enabled: bool = Field(True, description="false: kept in the file but never answered with")
    popular: bool = Field(False, description="offered as a shortcut in the menu")


class FaqWrite(FaqIn):
    version: str = Field(min_length=1, max_length=64, description="the file's version the edit was made on")


class NewFaqWrite(FaqWrite):
    id: str = Field(min_length=1, max_length=64, description="snake_case, never reused nor renamed")


class PhrasingIn(StrictBody):
    text: str = Field(min_length=1, max_length=_TEXT)
    version: str | None = Field(None, max_length=64, description="omit: added to whatever the file holds now")


class TryFaqIn(FaqIn):
    id: str = Field("new_faq", min_length=1, max_length=64, description="the FAQ being edited (a new one: any id)")


class TryIn(StrictBody):
    text: str = Field(min_length=1, max_length=_TEXT, description="what a customer might write")
    faq: TryFaqIn | None = Field(None, description="an unsaved edit to try it with")


# ----- answers ----------------------------------------------------------------------------------------


class CardOut(BaseModel):
    title: str
    pagepath: str
    image: str
    appid: str
    thumb_media_id: str


class FaqOut(BaseModel):
    id: str
    question: str
    similar: list[str]
    answer: str
    card: CardOut | None
    category: str
    enabled: bool
    popular: bool


class FaqItem(BaseModel):
    id: str
    question: str
    phrasings: int = Field(description="similar phrasings besides the question")
    answer: str
    has_card: bool
    category: str
    enabled: bool
    popular: bool
    bank_topics: list[str] = Field(
        default_factory=list,
        description="the shipped question bank's topics the running bot reads the FAQ as (it borrows their words)")
    own_words_only: bool = Field(
        False, description="an FAQ with few phrasings that the bank reads as none of its topics: it has only its "
                           "own words to go on, so more phrasings help it most")


class KbStatusOut(BaseModel):
    path: str
    faqs: int | None = Field(description="FAQs of the KB in force (None: no running bot on this service)")
    loaded_at: datetime | None = Field(description="when the KB in force was loaded")
    in_force: bool | None = Field(description="the file as it is now is the KB the bot answers from")
    last_error: str | None = Field(description="why the file's last change was not taken (the last good KB stays)")


class FaqList(BaseModel):
    version: str
    status: KbStatusOut
    total: int
    categories: list[str] = Field(description="every category of the file, in file order")
    faqs: list[FaqItem]


class FaqPage(BaseModel):
    version: str
    faq: FaqOut


class SavedOut(BaseModel):
    version: str = Field(description="the file's new version")
    faq: FaqOut | None = Field(description="the FAQ as written (None after a delete)")
    reloaded: bool | None = Field(description="the running bot answers from the edit (None: no running bot here)")
    reload_error: str | None = Field(description="why the running bot did not take the file")


class CandidateOut(BaseModel):
    id: str
    question: str
    score: float
    edited: bool = Field(False, description="the FAQ being edited")


class TryOut(BaseModel):
    outcome: Outcome = Field(description="answer; suggest (a 猜你想问 menu of the candidates); fallback")
    answer: FaqOut | None = Field(description="the FAQ answered with (outcome answer)")
    candidates: list[CandidateOut] = Field(description="best first; with fallback only the nearest misses")
    answer_threshold: float
    suggest_threshold: float
    edited: bool = Field(description="matched against the KB with the unsaved edit applied")


class PickedOut(BaseModel):
    id: str
    question: str
    times: int = Field(description="how often customers tapped it in the 猜你想问 menu these questions got")


class GapGroupOut(BaseModel):
    count: int
    keywords: list[str]
    examples: list[str] = Field(description="the most asked wordings, most frequent first")
    picked: list[PickedOut] = Field(description="the FAQs customers chose from the menu after asking, most first "
                                                "(their words for it: add them as its phrasings?)")
    candidates: list[CandidateOut] = Field(description="the FAQs it came closest to: add it as their phrasing?")
    answered_by: CandidateOut | None = Field(description="the FAQ the bot now answers its first example with")


class GapsOut(BaseModel):
    days: int
    questions: int = Field(description="unanswered questions in the period")
    groups: list[GapGroupOut]


# ----- routes -----------------------------------------------------------------------------------------


def add_kb_routes(router: APIRouter, api: BackOfficeBackend, auth: RoleCheck) -> None:
    """Adds this page's routes to the staff router."""
    admins = auth.requiring(Role.ADMIN)
    tried = _TriedMatchers()

    def office() -> BackOffice:
        if api.backoffice is None:
            raise KbUnavailable("the back office is not set up on this service")
        return api.backoffice

    def running(backoffice: BackOffice) -> KnowledgeBaseSource:
        if backoffice.kb is None:
            raise KbUnavailable("this service runs no bot: there is no knowledge base to try sentences on")
        return backoffice.kb

    @router.get("/kb/faqs", response_model=FaqList, responses=KB_RESPONSES,
                summary="The FAQs of the KB file, searched and by category, with the file's version and status")
    def faqs(q: str = Query("", max_length=100, description="words of the id, question, phrasings or answer"),
             category: str = Query("", max_length=40), offset: int = Query(0, ge=0, le=1_000_000),
             limit: int = Query(200, ge=1, le=1000), principal: Principal = admins) -> FaqList:
        backoffice = office()
        current = _read(backoffice)
        chosen = [faq for faq in current.kb.faqs if _matches(faq, q, category)]
        matcher = backoffice.kb.matcher() if backoffice.kb is not None else None
        abouts = {topic.id: topic.about for topic in load_question_bank()}
        return FaqList(version=current.version, status=kb_status(backoffice), total=len(chosen),
                       categories=list(dict.fromkeys(faq.category for faq in current.kb.faqs if faq.category)),
                       faqs=[_item(faq, matcher, abouts) for faq in chosen[offset:offset + limit]])

    @router.get("/kb/faqs/{faq_id}", response_model=FaqPage, responses=KB_RESPONSES, summary="One FAQ")
    def faq(faq_id: str = FAQ_ID, principal: Principal = admins) -> FaqPage:
        current = _read(office())
        with _refusals():
            return FaqPage(version=current.version, faq=_faq_out(current.faq(faq_id)))

    @router.post("/kb/faqs", response_model=SavedOut, status_code=201, responses=KB_RESPONSES,
                 summary="Add an FAQ at the end of the file")
    def create(body: NewFaqWrite, principal: Principal = admins) -> SavedOut:
        backoffice = office()
        with _refusals():
            saved = add_faq(backoffice.kb_path, entry={**_entry(body), "id": body.id}, version=body.version,
                            check_image=_check_image(backoffice))
        return _saved(backoffice, saved, body.id)

    @router.put("/kb/faqs/{faq_id}", response_model=SavedOut, responses=KB_RESPONSES,
                summary="Change an FAQ (its id stays); 409 KB_CHANGED when `version` is stale")
    def change(body: FaqWrite, faq_id: str = FAQ_ID, principal: Principal = admins) -> SavedOut:
        backoffice = office()
        with _refusals():
            saved = change_faq(backoffice.kb_path, faq_id=faq_id, entry=_entry(body), version=body.version,
                               check_image=_check_image(backoffice))
        return _saved(backoffice, saved, faq_id)

    @router.post("/kb/faqs/{faq_id}/phrasings", response_model=SavedOut, status_code=201, responses=KB_RESPONSES,
                 summary="Add a similar phrasing to an FAQ (an unanswered question it should answer)")
    def phrasing(body: PhrasingIn, faq_id: str = FAQ_ID, principal: Principal = admins) -> SavedOut:
        backoffice = office()
        with _refusals():
            saved = add_phrasing(backoffice.kb_path, faq_id=faq_id, text=body.text, version=body.version,
                                 check_image=_check_image(backoffice))
        return _saved(backoffice, saved, faq_id)

    @router.delete("/kb/faqs/{faq_id}", response_model=SavedOut, responses=KB_RESPONSES,
                   summary="Take an FAQ out of the file (disable it instead to keep it)")
    def delete(faq_id: str = FAQ_ID, version: str = Query(min_length=1, max_length=64),
               principal: Principal = admins) -> SavedOut:
        backoffice = office()
        with _refusals():
            saved = remove_faq(backoffice.kb_path, faq_id=faq_id, version=version)
        return _saved(backoffice, saved, None)

    @router.get("/kb/status", response_model=KbStatusOut, responses=KB_RESPONSES,
                summary="Whether the running bot answers from the file as it is, and the last reload error")
    def status(principal: Principal = admins) -> KbStatusOut:
        return kb_status(office())

    @router.post("/kb/try", response_model=TryOut, responses=KB_RESPONSES,
                 summary="试一试: what the bot would answer to a sentence (answer, menu or fallback, and scores)")
    def try_sentence(body: TryIn, principal: Principal = admins) -> TryOut:
        backoffice = office()
        source = running(backoffice)
        matcher = source.matcher()
        edited: Faq | None = None
        if body.faq is not None:
            with _refusals():
                edited = unsaved_faq({**_entry(body.faq), "id": body.faq.id}, check_image=source.check_image)
            matcher = tried.matcher(source, matcher, edited)
        return _tried(matcher.match(body.text), matcher, edited)

    @router.get("/kb/gaps", response_model=GapsOut, responses=KB_RESPONSES,
                summary="Unanswered questions grouped by similarity, largest first, with the FAQs they came near")
    def gaps(days: int = Query(30, ge=1, le=366, description="the last this many days"),
             limit: int = Query(30, ge=1, le=200, description="at most this many groups"),
             principal: Principal = admins) -> GapsOut:
        source = running(office())
        with api.factory() as session:
            since = utcnow() - timedelta(days=days)
            texts = unanswered_since(session, since)
            choices = choices_since(session, since)
        matcher = source.matcher()
        kb = source.knowledge_base()
        groups = cluster_questions(texts, source.tokeniser, choices=choices)[:limit]
        return GapsOut(days=days, questions=len(texts), groups=[
            GapGroupOut(count=group.count, keywords=group.keywords, examples=group.examples,
                        picked=_picked(group.picked, kb),
                        candidates=[_candidate(c.faq, c.score) for c in matcher.rank(group.examples[0])],
                        answered_by=_answered_by(matcher.match(group.examples[0])))
            for group in groups])


# ----- helpers ----------------------------------------------------------------------------------------


@contextmanager
def _refusals() -> Iterator[None]:
    """The KB's refusals as the API's (their statuses in one place)."""
    try:
        yield
    except StaleKnowledgeBase as error:
        raise KbChanged(error.message, version=error.version) from error
    except FaqNotFound as error:
        raise KbFaqNotFound(error.message) from error
    except BrokenKnowledgeBase as error:
        raise KbBroken(error.message) from error
    except InvalidEdit as error:
        raise InvalidFaq(error.message, field=error.field) from error
    except KnowledgeBaseError as error:
        raise InvalidFaq(error.message) from error


def _read(backoffice: BackOffice) -> KbFile:
    with _refusals():
        return read_kb_file(backoffice.kb_path, check_image=_check_image(backoffice))


def _check_image(backoffice: BackOffice) -> ImageCheck | None:
    # The running bot's check, so that what is saved here is what it will load.
    return backoffice.kb.check_image if backoffice.kb is not None else None


def _entry(body: FaqIn) -> dict[str, Any]:
    """The body as a KB file entry (as `faq_to_mapping` writes one: defaults left out)."""
    entry: dict[str, Any] = {"question": body.question, "similar": list(body.similar)}
    if body.answer:
        entry["answer"] = body.answer
    if body.card is not None:
        entry["card"] = {key: value for key, value in body.card.model_dump().items() if value}
    if body.category:
        entry["category"] = body.category
    entry["enabled"], entry["popular"] = body.enabled, body.popular
    return entry


def _matches(faq: Faq, q: str, category: str) -> bool:
    if category and faq.category != category:
        return False
    words = q.lower().split()
    haystack = " ".join((faq.id, *faq.phrasings(), faq.answer)).lower()
    return all(word in haystack for word in words)


def _item(faq: Faq, matcher: FaqMatcher | None, abouts: dict[str, str]) -> FaqItem:
    topics = matcher.topics_of(faq.id) if matcher is not None else frozenset()
    return FaqItem(id=faq.id, question=faq.question, phrasings=len(faq.similar), answer=faq.answer,
                   has_card=faq.card is not None, category=faq.category, enabled=faq.enabled, popular=faq.popular,
                   bank_topics=[about for topic_id, about in abouts.items() if topic_id in topics],
                   own_words_only=(matcher is not None and matcher.bank_read and faq.enabled and not topics
                                   and len(faq.phrasings()) < BORROW_UNTIL))


def _faq_out(faq: Faq) -> FaqOut:
    card = faq.card
    return FaqOut(id=faq.id, question=faq.question, similar=list(faq.similar), answer=faq.answer,
                  card=CardOut(title=card.title, pagepath=card.pagepath, image=card.image, appid=card.appid,
                               thumb_media_id=card.thumb_media_id) if card else None,
                  category=faq.category, enabled=faq.enabled, popular=faq.popular)


def _candidate(faq: Faq, score: float, edited: Faq | None = None) -> CandidateOut:
    mine = edited is not None and faq.id == edited.id
    return CandidateOut(id=faq.id, question=faq.question, score=score, edited=mine)


def _picked(picked: list[tuple[str, int]], kb: KnowledgeBase) -> list[PickedOut]:
    """The tapped FAQs the KB still has (one deleted since is left out)."""
    faqs = ((kb.by_id(faq_id), times) for faq_id, times in picked)
    return [PickedOut(id=faq.id, question=faq.question, times=times) for faq, times in faqs if faq is not None]


def _answered_by(result: MatchResult) -> CandidateOut | None:
    best = result.best
    return _candidate(best.faq, best.score) if result.outcome is Outcome.ANSWER and best else None


def _tried(result: MatchResult, matcher: FaqMatcher, edited: Faq | None) -> TryOut:
    return TryOut(outcome=result.outcome, answer=_faq_out(result.answer) if result.answer else None,
                  candidates=[_candidate(c.faq, c.score, edited) for c in result.candidates],
                  answer_threshold=matcher.answer_threshold, suggest_threshold=matcher.suggest_threshold,
                  edited=edited is not None)


def kb_status(backoffice: BackOffice) -> KbStatusOut:
    """The KB file and the running bot's KB: loaded when, from the file as it is now or not, any error."""
    path = backoffice.kb_path
    if backoffice.kb is None:
        return KbStatusOut(path=str(path), faqs=None, loaded_at=None, in_force=None, last_error=None)
    status = backoffice.kb.status()
    return KbStatusOut(path=str(path), faqs=status.faqs, loaded_at=datetime.fromtimestamp(status.loaded_at, UTC),
                       in_force=status.loaded == file_signature(path) and status.loaded is not None,
                       last_error=status.last_error)


def _saved(backoffice: BackOffice, saved: SavedKb, faq_id: str | None) -> SavedOut:
    reloaded, error = _await_reload(backoffice.kb, saved.signature)
    faq = _faq_out(saved.file.faq(faq_id)) if faq_id is not None else None
    return SavedOut(version=saved.file.version, faq=faq, reloaded=reloaded, reload_error=error)


def _await_reload(source: KnowledgeBaseSource | None, signature: Signature | None) -> tuple[bool | None, str | None]:
    """Whether the running bot took the written file, waiting a few seconds at most: it looks at the file
    once a second and indexes it on a thread of its own."""
    if source is None or signature is None:
        return None, None
    deadline = time.monotonic() + RELOAD_WAIT_S
    while True:
        status = source.status()
        if status.loaded == signature:
            return True, None
        if status.failed == signature:
            return False, status.last_error
        if time.monotonic() >= deadline:
            return False, None
        time.sleep(_RELOAD_POLL_S)


class _TriedMatchers:
    """Matchers of the running KB with an unsaved edit applied; building one takes a second or two (its
    scores are calibrated to the KB), so the last few are kept. One built on an older KB is not reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (id of the running matcher, the edit) → (that matcher, kept alive so its id is not reused; the edit's)
        self._kept: OrderedDict[tuple[int, Faq], tuple[FaqMatcher, FaqMatcher]] = OrderedDict()

    def matcher(self, source: KnowledgeBaseSource, running: FaqMatcher, faq: Faq) -> FaqMatcher:
        key = (id(running), faq)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept[1]
        built = FaqMatcher(kb_with_faq(source.knowledge_base(), faq), source.tokeniser,
                           answer_threshold=running.answer_threshold, suggest_threshold=running.suggest_threshold)
        with self._lock:
            self._kept[key] = (running, built)
            while len(self._kept) > _TRIED_MATCHERS:
                self._kept.popitem(last=False)
        return built

