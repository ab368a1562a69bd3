"""Customers by tag expression: `意向客户-连衣裙 AND NOT 已购-连衣裙`, `VIP OR 售后`, with parentheses.

The grammar, loosest first (NOT binds tightest, then AND, then OR, as in SQL):

    expression := term ("OR" term)*
    term       := factor ("AND" factor)*
    factor     := "NOT" factor | "(" expression ")" | TAG
    TAG        := characters other than spaces and parentheses, or "a quoted name"

The keywords are upper case, so a tag may be called `vip` or `or`-anything. The expression becomes
one SQL condition, an EXISTS subquery per tag over the tags that count now; the database pages and
counts, never Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session, aliased

from bot.customers.errors import InvalidTag, TagExpressionError
from bot.customers.tag_models import CustomerTag
from bot.customers.tags import check_tag_name
from bot.models import Customer
from storage.clock import utcnow

KEYWORDS = frozenset({"AND", "OR", "NOT"})
MAX_EXPRESSION_CHARS = 500


@dataclass(frozen=True)
class Tag:
    name: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BinaryOp:
    op: str  # AND | OR
    left: Node
    right: Node


Node = Tag | Not | BinaryOp


@dataclass(frozen=True)
class Token:
    kind: str  # TAG, AND, OR, NOT, (, ), END
    text: str
    position: int


def parse_tag_expression(expression: str) -> Node:
    """The expression as a tree; TagExpressionError with the position where it goes wrong."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise TagExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters",
                                 position=MAX_EXPRESSION_CHARS)
    return _Parser(tokenize(expression)).parse()


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(expression):
        char = expression[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(Token(char, char, i))
            i += 1
        elif char == '"':
            end = expression.find('"', i + 1)
            if end < 0:
                raise TagExpressionError("unterminated quoted tag name", position=i)
            tokens.append(Token("TAG", expression[i + 1:end], i))
            i = end + 1
        else:
            start = i
            while i < len(expression) and not expression[i].isspace() and expression[i] not in '()"':
                i += 1
            word = expression[start:i]
            tokens.append(Token(word if word in KEYWORDS else "TAG", word, start))
    tokens.append(Token("END", "", len(expression)))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._at = 0

    def parse(self) -> Node:
        node = self._expression()
        token = self._peek()
        if token.kind != "END":
            raise TagExpressionError(f"expected AND, OR or the end, found {token.text!r}", position=token.position)
        return node

    def _peek(self) -> Token:
        return self._tokens[self._at]

    def _take(self) -> Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _expression(self) -> Node:
        node = self._term()
        while self._peek().kind == "OR":
            self._take()
            node = BinaryOp("OR", node, self._term())
        return node

    def _term(self) -> Node:
        node = self._factor()
        while self._peek().kind == "AND":
            self._take()
            node = BinaryOp("AND", node, self._factor())
        return node

    def _factor(self) -> Node:
        token = self._take()
        if token.kind == "NOT":
            return Not(self._factor())
        if token.kind == "(":
            node = self._expression()
            closing = self._take()
            if closing.kind != ")":
                raise TagExpressionError("expected ')'", position=closing.position)
            return node
        if token.kind == "TAG":
            return Tag(self._tag_name(token))
        found = "the end" if token.kind == "END" else repr(token.text)
        raise TagExpressionError(f"expected a tag, NOT or '(', found {found}", position=token.position)

    @staticmethod
    def _tag_name(token: Token) -> str:
        try:
            return check_tag_name(token.text)
        except InvalidTag as exc:  # an empty or over-long name
            raise TagExpressionError(str(exc), position=token.position) from None


def tag_condition(node: Node, now: datetime) -> ColumnElement[bool]:
    """The customers the expression selects, as a condition on `customers`."""
    if isinstance(node, Tag):
        tag = aliased(CustomerTag)
        return exists().where(tag.customer_id == Customer.id, tag.name == node.name, tag.removed_at.is_(None),
                              or_(tag.expires_at.is_(None), tag.expires_at > now))
    if isinstance(node, Not):
        return not_(tag_condition(node.operand, now))
    combine = and_ if node.op == "AND" else or_
    return combine(tag_condition(node.left, now), tag_condition(node.right, now))


def customers_by_tags(
    session: Session, expression: str, limit: int = 50, offset: int = 0, *, now: datetime | None = None
) -> tuple[list[Customer], int]:
    """A page of the customer rows the expression selects (by id) and how many it selects in all.

    The page and the total come from one query (a window count); only a page past the end, which
    has no row to carry the count, asks the database for the count alone.
    """
    if not 1 <= limit <= 500 or offset < 0:
        raise ValueError("limit must be 1-500 and offset not negative")
    condition = tag_condition(parse_tag_expression(expression), now or utcnow())
    query = select(Customer, func.count().over().label("total")).where(condition)
    rows = session.execute(query.order_by(Customer.id).limit(limit).offset(offset)).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    total = session.scalar(select(func.count()).select_from(Customer).where(condition)) if offset else 0
    return [], int(total or 0)
