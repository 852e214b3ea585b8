"""tawk.to properties and their widgets, so a tawk.to embed snippet can point at Porch.

Plain tables with string keys and no dialect-specific types, so the same revision runs on
SQLite and PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tawk_properties",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("app_id", sa.Integer(), sa.ForeignKey("apps.id"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_tawk_properties_app_id", "tawk_properties", ["app_id"])
    op.create_table(
        "tawk_widgets",
        sa.Column(
            "property_id",
            sa.String(24),
            sa.ForeignKey("tawk_properties.id"),
            primary_key=True,
        ),
        sa.Column("widget_id", sa.String(50), primary_key=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("position", sa.String(2), nullable=False),
        sa.Column("colour", sa.String(7), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tawk_widgets")
    op.drop_index("ix_tawk_properties_app_id", "tawk_properties")
    op.drop_table("tawk_properties")
