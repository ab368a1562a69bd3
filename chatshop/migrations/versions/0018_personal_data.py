"""personal data sealed at rest: addresses, messages, dialogue state; phone search hash; the reveals audit

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 02:00:00.000000

The columns keep their types (a sealed JSON document is stored as a JSON string), so no table is rebuilt:
existing values are sealed where they are, in batches, with the keys installed for the process
(chatshop.data_keys). A database with rows to seal and no keys stops here with one line; an empty one
needs none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

import storage.db
from storage.sealing import NoSealer, dump_json, has_sealer, installed_sealer, is_sealed

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

BATCH = 500
# table, its primary key, its sealed columns (name, JSON or not), as of this revision.
SEALED: list[tuple[str, str, list[tuple[str, bool]]]] = [
    ('orders', 'order_no', [('address', True)]),
    ('conversation_messages', 'id', [('body', True)]),
    ('inbound_messages', 'dedupe_key', [('reply_xml', False)]),
    ('unanswered_questions', 'id', [('text', False)]),
    ('dialogue_states', 'customer_id', [('slots', True), ('latest_message', True), ('events', True)]),
    ('console_events', 'id', [('data', True)]),
    ('handoffs', 'id', [('summary', True)]),
    ('handoff_notes', 'id', [('text', False)]),
]
NEEDS_KEYS = ("migration 0018 seals the personal data already stored and needs the data keys: set "
              "CHATSHOP__DATA__KEYS and CHATSHOP__DATA__INDEX_KEY (`chatshop keys new` prints both)")


def upgrade() -> None:
    _keys_for_what_is_stored()  # first: on SQLite each DDL statement below commits by itself
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('phone_hash', sa.String(length=64), nullable=True))
        batch.create_index('ix_orders_phone_hash', ['phone_hash'], unique=False)
    op.create_table('pii_reveals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_pii_reveals_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pii_reveals'))
    )
    with op.batch_alter_table('pii_reveals') as batch:
        batch.create_index('ix_pii_reveals_at', ['at'], unique=False)
        batch.create_index('ix_pii_reveals_customer_id', ['customer_id'], unique=False)
        batch.create_index('ix_pii_reveals_order_no', ['order_no'], unique=False)
        batch.create_index('ix_pii_reveals_staff_id', ['staff_id'], unique=False)
    connection = op.get_bind()
    if connection.dialect.name == 'sqlite':
        # The clear values overwritten below are zeroed in the file rather than left in freed space.
        connection.exec_driver_sql('PRAGMA secure_delete = ON')
    for table, key, columns in SEALED:
        _rewrite(table, key, columns, _seal)
    _hash_phones()


def downgrade() -> None:
    for table, key, columns in SEALED:
        _rewrite(table, key, columns, _open)
    with op.batch_alter_table('pii_reveals') as batch:
        batch.drop_index('ix_pii_reveals_staff_id')
        batch.drop_index('ix_pii_reveals_order_no')
        batch.drop_index('ix_pii_reveals_customer_id')
        batch.drop_index('ix_pii_reveals_at')
    op.drop_table('pii_reveals')
    with op.batch_alter_table('orders') as batch:
        batch.drop_index('ix_orders_phone_hash')
        batch.drop_column('phone_hash')


def _rewrite(table: str, key: str, columns: list[tuple[str, bool]], change: Callable[[str, str, bool], Any]) -> None:
    """Every row's values through `change`, a batch at a time in primary-key order."""
    connection = op.get_bind()
    names = [name for name, _ in columns]
    target = sa.table(table, sa.column(key), *(sa.column(name) for name in names))
    raw = [sa.cast(sa.column(name), sa.Text).label(name) for name in names]  # as stored, whatever the backend
    statement = sa.update(target).where(target.c[key] == sa.bindparam('row_key')).values(
        {name: sa.bindparam(f'new_{name}', type_=sa.JSON(none_as_null=True) if is_json else sa.Text())
         for name, is_json in columns})
    after: Any = None
    while True:
        query: Any = sa.select(sa.column(key), *raw).select_from(sa.table(table)).order_by(sa.column(key)).limit(BATCH)
        if after is not None:
            query = query.where(sa.column(key) > after)
        rows = connection.execute(query).all()
        if not rows:
            return
        updates = []
        for row in rows:
            values = {f'new_{name}': None if stored is None else change(stored, f'{table}.{name}', is_json)
                      for (name, is_json), stored in zip(columns, row[1:], strict=True)}
            updates.append({'row_key': row[0], **values})
        connection.execute(statement, updates)
        after = rows[-1][0]


def _keys_for_what_is_stored() -> None:
    connection = op.get_bind()
    for table, _key, _columns in SEALED:
        if connection.execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first() is not None:
            _sealer()
            return


def _seal(stored: str, label: str, is_json: bool) -> Any:
    value = json.loads(stored) if is_json else stored
    if is_sealed(value):
        return value
    plain = dump_json(value) if is_json else str(value).encode()
    return _sealer().seal(plain, label=label)


def _open(stored: str, label: str, is_json: bool) -> Any:
    value = json.loads(stored) if is_json else stored
    if not is_sealed(value):
        return value
    plain = _sealer().open(value, label=label)
    return json.loads(plain) if is_json else plain.decode()


def _sealer() -> Any:
    if not has_sealer():
        raise NoSealer(NEEDS_KEYS)
    return installed_sealer()


# The phone number as this revision's search hash takes it (commerce.personal.phone_digits, frozen here).
_NOT_DIGITS = re.compile(r'\D+')


def _phone_digits(phone: str) -> str:
    digits = _NOT_DIGITS.sub('', phone)
    return digits[2:] if len(digits) == 13 and digits.startswith('861') else digits


def _hash_phones() -> None:
    connection = op.get_bind()
    orders = sa.table('orders', sa.column('order_no'), sa.column('address', sa.Text), sa.column('phone_hash'))
    statement = sa.update(orders).where(orders.c.order_no == sa.bindparam('row_key')).values(
        phone_hash=sa.bindparam('hash'))
    after = ''
    while True:
        rows = connection.execute(
            sa.select(orders.c.order_no, sa.cast(orders.c.address, sa.Text)).where(orders.c.order_no > after)
            .where(orders.c.phone_hash.is_(None)).order_by(orders.c.order_no).limit(BATCH)).all()
        if not rows:
            return
        updates = []
        for order_no, stored in rows:
            address = json.loads(_sealer().open(json.loads(stored), label='orders.address'))
            phone = address.get('phone') if isinstance(address, dict) else None
            if isinstance(phone, str) and phone:
                updates.append({'row_key': order_no,
                                'hash': _sealer().blind_index(_phone_digits(phone), purpose='phone')})
        if updates:
            connection.execute(statement, updates)
        after = rows[-1][0]
