"""Trigram indexes for the console's search on PostgreSQL.

The search matches a fragment anywhere (``ILIKE '%refund%'``): a B-tree cannot serve that, a
trigram GIN index can (tests/bench/search.py has the figures). SQLite has no such index; its
search stays a scan of the app's rows, fine at the sizes one process serves.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

#: (index, table, column)
_INDEXES = (
    ("ix_messages_text_trgm", "messages", "text"),
    ("ix_visitors_name_trgm", "visitors", "name"),
    ("ix_visitors_email_trgm", "visitors", "email"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index, table, column in _INDEXES:
        op.execute(f"CREATE INDEX {index} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index, _table, _column in _INDEXES:
        op.execute(f"DROP INDEX {index}")
