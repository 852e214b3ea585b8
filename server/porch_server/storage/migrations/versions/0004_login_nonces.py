"""One-time business logins: the ``ranstr`` values already used, per app, until they expire.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "login_nonces",
        sa.Column("app_id", sa.Integer(), sa.ForeignKey("apps.id"), primary_key=True),
        sa.Column("ranstr", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_login_nonces_expires_at", "login_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_login_nonces_expires_at", "login_nonces")
    op.drop_table("login_nonces")
