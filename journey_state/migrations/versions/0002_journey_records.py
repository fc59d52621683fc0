"""Verified identifiers and merges, business events, feedback, offers, referrals, loyalty, handoffs, erasures.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:10:29.345476
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erasures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_id', sa.String(length=32), nullable=False),
    sa.Column('contact_hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt_id')
    )
    op.create_table('business_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('business_events', schema=None) as batch_op:
        batch_op.create_index('ix_business_events_contact_at', ['contact_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_business_events_type_at', ['type', 'occurred_at'], unique=False)

    op.create_table('contact_identifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'value', name='uq_contact_identifier')
    )
    with op.batch_alter_table('contact_identifiers', schema=None) as batch_op:
        batch_op.create_index('ix_contact_identifiers_contact', ['contact_id'], unique=False)

    op.create_table('contact_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.Integer(), nullable=False),
    sa.Column('merged_uid', sa.String(length=32), nullable=False),
    sa.Column('identifier_kind', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['survivor_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merged_uid')
    )
    with op.batch_alter_table('contact_merges', schema=None) as batch_op:
        batch_op.create_index('ix_contact_merges_survivor', ['survivor_id'], unique=False)

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('sender_id', sa.String(length=255), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_contact', ['contact_id', 'created_at'], unique=False)
        batch_op.create_index('ix_handoffs_status_priority', ['status', 'priority', 'created_at'], unique=False)

    op.create_table('loyalty_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contact_id', 'reference', name='uq_loyalty_reference')
    )
    op.create_table('offer_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('offer_events', schema=None) as batch_op:
        batch_op.create_index('ix_offer_events_contact_offer', ['contact_id', 'offer_id', 'at'], unique=False)
        batch_op.create_index('ix_offer_events_offer_kind', ['offer_id', 'kind', 'at'], unique=False)

    op.create_table('referral_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('referral_codes', schema=None) as batch_op:
        batch_op.create_index('ix_referral_codes_contact', ['contact_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'nps' AND score BETWEEN 0 AND 10) OR (kind = 'csat' AND score BETWEEN 1 AND 5)", name='ck_feedback_score_range'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_contact_at', ['contact_id', 'at'], unique=False)
        batch_op.create_index('ix_feedback_kind_at', ['kind', 'at'], unique=False)

    op.create_table('referral_attributions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('referred_contact_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['referral_codes.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referred_contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('referred_contact_id')
    )
    with op.batch_alter_table('referral_attributions', schema=None) as batch_op:
        batch_op.create_index('ix_referral_attributions_code', ['code_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('referral_attributions', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_attributions_code')

    op.drop_table('referral_attributions')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_kind_at')
        batch_op.drop_index('ix_feedback_contact_at')

    op.drop_table('feedback')
    with op.batch_alter_table('referral_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_codes_contact')

    op.drop_table('referral_codes')
    with op.batch_alter_table('offer_events', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_events_offer_kind')
        batch_op.drop_index('ix_offer_events_contact_offer')

    op.drop_table('offer_events')
    op.drop_table('loyalty_ledger')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_status_priority')
        batch_op.drop_index('ix_handoffs_contact')

    op.drop_table('handoffs')
    with op.batch_alter_table('contact_merges', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_merges_survivor')

    op.drop_table('contact_merges')
    with op.batch_alter_table('contact_identifiers', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_identifiers_contact')

    op.drop_table('contact_identifiers')
    with op.batch_alter_table('business_events', schema=None) as batch_op:
        batch_op.drop_index('ix_business_events_type_at')
        batch_op.drop_index('ix_business_events_contact_at')

    op.drop_table('business_events')
    op.drop_table('erasures')
