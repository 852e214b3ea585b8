"""Conversation features: business hours, offline message and pre-chat form on apps; roles and
presence on agents; attributes, tags and events on visitors; assignment, end, rating and the
offline flag on conversations; system events and files on messages; uploaded files.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("offline_message", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("business_hours", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("prechat_fields", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="agent"))
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="online")
        )
    with op.batch_alter_table("visitors") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("tags_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "visitor_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visitor_id", sa.Integer(), sa.ForeignKey("visitors.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_visitor_events_visitor_id", "visitor_events", ["visitor_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("agent_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("ended_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("ended_by", sa.String(16), nullable=True))
        batch.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating_comment", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("offline", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("app_id", sa.Integer(), sa.ForeignKey("apps.id"), nullable=False),
        sa.Column("uploader", sa.String(16), nullable=False),
        sa.Column("uploader_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("event", sa.String(32), nullable=True))
        batch.add_column(sa.Column("agent", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("file_id", sa.String(40), nullable=True))
        batch.create_foreign_key("fk_messages_file_id", "files", ["file_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("fk_messages_file_id", type_="foreignkey")
        for column in ("file_id", "agent", "event"):
            batch.drop_column(column)
    op.drop_table("files")
    with op.batch_alter_table("conversations") as batch:
        for column in ("offline", "rating_comment", "rating", "ended_by", "ended_at", "agent_ids"):
            batch.drop_column(column)
    op.drop_index("ix_visitor_events_visitor_id", "visitor_events")
    op.drop_table("visitor_events")
    with op.batch_alter_table("visitors") as batch:
        for column in ("tags_version", "tags", "attributes"):
            batch.drop_column(column)
    with op.batch_alter_table("agents") as batch:
        for column in ("status", "role"):
            batch.drop_column(column)
    with op.batch_alter_table("apps") as batch:
        for column in ("prechat_fields", "business_hours", "offline_message"):
            batch.drop_column(column)
