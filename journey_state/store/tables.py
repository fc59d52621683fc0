"""The journey tables. Schema changes go through Alembic (journey_state/migrations).

The full schema, with the staff, demo-shop and channel tables, is journey_state/store/schema.py.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from journey_state.store.base import UTCDateTime, metadata

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(32), nullable=False, unique=True),
    Column("journey_model", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("at_risk", Boolean, nullable=False, default=False),
    Column("dormant", Boolean, nullable=False, default=False),
    Column("persona", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_activity_at", UTCDateTime()),
    Index("ix_contacts_stage", "journey_model", "stage"),
    Index("ix_contacts_model_created", "journey_model", "created_at"),
    Index("ix_contacts_model_persona", "journey_model", "persona"),
)

channel_identities = Table(
    "channel_identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("channel", "external_id", name="uq_channel_identity"),
    Index("ix_channel_identities_contact", "contact_id"),
    Index("ix_channel_identities_channel", "channel", "contact_id"),  # the analytics channel filter
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_value", String(64), nullable=False),
    Column("to_value", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("signal_type", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("signal_id", String(255), nullable=False),
    Column("excerpt", Text, nullable=False, default=""),
    Column("confidence", Float, nullable=False),
    Column("rule", String(64), nullable=False),
    Index("ix_transitions_contact_at", "contact_id", "at"),
    Index("ix_transitions_contact_kind", "contact_id", "kind", "to_value", "at"),
)

applied_signals = Table(
    "applied_signals",
    metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("signal_id", String(255), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
)

touchpoints = Table(
    "touchpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("message_id", String(255)),
    Column("intent", String(64)),
    Column("confidence", Float),
    Column("emotion", String(16)),
    Column("stage", String(64), nullable=False),
    Column("excerpt", Text, nullable=False, default=""),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_touchpoints_contact_at", "contact_id", "at"),
    Index("ix_touchpoints_analytics", "stage", "channel", "intent", "emotion", "at"),
    Index("ix_touchpoints_contact_stage", "contact_id", "stage", "intent", "at", "channel"),
    Index("ix_touchpoints_intent_at", "intent", "at"),
    Index("ix_touchpoints_at", "at", "stage", "channel", "intent", "emotion"),
)


# Touchpoint counts per day/month for analytics, maintained by triggers (journey_state/store/rollups.py).
touch_rollup = Table(
    "touch_rollup",
    metadata,
    Column("grain", String(1), primary_key=True),  # d | m
    Column("bucket", String(10), primary_key=True),  # YYYY-MM-DD | YYYY-MM (UTC)
    Column("journey_model", String(64), primary_key=True),
    Column("persona", String(64), primary_key=True),  # "" for none
    Column("stage", String(64), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("intent", String(64), primary_key=True),  # "" for none
    Column("emotion", String(16), primary_key=True),  # "" for none
    Column("n", Integer, nullable=False),
)

# Each contact's stays in a stage (creation, then one per stage transition), maintained by
# triggers (journey_state/store/rollups.py). stage "" is the model's initial stage.
stage_stays = Table(
    "stage_stays",
    metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),  # 0 for the creation, else the transition id
    Column("journey_model", String(64), nullable=False),
    Column("persona", String(64), nullable=False),  # "" for none
    Column("stage", String(64), nullable=False),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("left_at", UTCDateTime()),  # the next stay's start; NULL while open
    Column("seconds", Float),
    # Covering indexes: counts by period, and ranks along the duration.
    Index("ix_stage_stays_entered", "journey_model", "entered_at", "stage", "left_at", "persona", "contact_id"),
    Index("ix_stage_stays_seconds", "journey_model", "stage", "seconds", "entered_at", "left_at", "persona", "contact_id"),
    # Stays that ended after a period (ongoing as seen from its end).
    Index("ix_stage_stays_left", "journey_model", "left_at", "entered_at", "stage", "seconds", "persona", "contact_id"),
    # A contact's stage at a given time (the handoffs' stage at creation), read from the index alone.
    Index("ix_stage_stays_contact", "contact_id", "entered_at", "left_at", "stage"),
)


# Per-contact analytics facts (journey_state/analytics/facts.py), recomputed in Python where
# the journey models' stage order is known. Triggers (journey_state/store/facts_queue.py) list
# in facts_dirty every contact whose data changed; the dashboard refreshes those before it
# reads. No foreign keys: a deleted contact's facts must outlive it until the refresh
# subtracts them from attribution_rollup.
facts_dirty = Table(
    "facts_dirty",
    metadata,
    Column("contact_id", Integer, primary_key=True, autoincrement=False),
    Column("v", Integer, nullable=False),  # bumped by every change: a refresh clears only the version it read
)

facts_models = Table(
    "facts_models",
    metadata,
    Column("journey_model", String(64), primary_key=True),
    Column("stages", Text, nullable=False),  # the stage ids, in order, that the facts were computed with
)

# When each contact first reached stage index `idx` or a later one; one set of rows for any
# channel ("") and one per channel the contact has an identity on (the channel filter).
stage_reached = Table(
    "stage_reached",
    metadata,
    Column("contact_id", Integer, primary_key=True, autoincrement=False),
    Column("channel", String(32), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("journey_model", String(64), nullable=False),
    Column("persona", String(64), nullable=False),  # "" for none
    Column("created_at", UTCDateTime(), nullable=False),
    Column("reached_at", UTCDateTime(), nullable=False),
    Index("ix_stage_reached_period", "journey_model", "channel", "created_at", "idx", "reached_at", "persona"),
    Index("ix_stage_reached_late", "journey_model", "channel", "reached_at", "created_at", "idx", "persona"),
)

# One row per contact and channel ("" for any, and each channel the contact has an identity
# on): what the funnel, the cohorts and time in stage count, as of the last refresh. `stays`
# lists the contact's stage_stays as "<stage>@<entered YYYY-MM-DD>@<duration bucket, -1 while
# open>@<1 if entered by a transition>" (journey_state/analytics/facts.py).
contact_facts = Table(
    "contact_facts",
    metadata,
    Column("contact_id", Integer, primary_key=True, autoincrement=False),
    Column("channel", String(32), primary_key=True),
    Column("journey_model", String(64), nullable=False),
    Column("persona", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("at_risk", Boolean, nullable=False),
    Column("dormant", Boolean, nullable=False),
    Column("last_activity_at", UTCDateTime()),
    Column("furthest", Integer, nullable=False),
    Column("retained_at", UTCDateTime()),
    Column("stays", Text, nullable=False),
    Column("feedback", Text, nullable=False),  # "<kind>|<score>|<stage>|<channel>@<YYYY-MM-DD>", this channel's answers
    Column("offers", Text, nullable=False),  # offer events and first impressions on this channel (journey_state/analytics/facts.py)
    Index("ix_contact_facts_created", "journey_model", "created_at"),
)

# contact_facts counted per UTC day ("d") and month ("m") of creation (kinds current,
# furthest), per week of creation ("w", Monday; kinds active, retained) and per day and month
# a stay began (kinds stay, entered), per week and day of each feedback answer (kind fb), per
# day and month of each offer event and first impression (kind offer). `value` is the counted
# attribute. Every count is also kept summed over personas, under persona "*".
def _rollup_scope() -> list[Column]:
    """The bucket and scope columns of the per-contact facts' rollups."""
    return [
        Column("grain", String(1), nullable=False),
        Column("bucket", String(10), nullable=False),
        Column("journey_model", String(64), nullable=False),
        Column("channel", String(32), nullable=False),  # "" for any
        Column("persona", String(64), nullable=False),  # "" for none, "*" for all
    ]


contact_rollup = Table(
    "contact_rollup",
    metadata,
    *_rollup_scope(),
    Column("kind", String(8), nullable=False),
    Column("value", String(80), nullable=False),
    Column("n", Integer, nullable=False),
    # Model, channel, persona ("*" for all) and kind first: a period of one kind is one key range.
    PrimaryKeyConstraint("journey_model", "channel", "persona", "kind", "grain", "bucket", "value"),
)

# Bot attribution per contact, stage and channel ("" for any): the first touchpoint in the
# stage, how soon a later stage followed (a window of journey_state.analytics.facts.WINDOWS,
# 0 for none), and the intents asked and offers shown in the stage ("i:<intent>", "o:<offer>").
attribution_facts = Table(
    "attribution_facts",
    metadata,
    Column("contact_id", Integer, primary_key=True, autoincrement=False),
    Column("channel", String(32), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("journey_model", String(64), nullable=False),
    Column("persona", String(64), nullable=False),
    Column("first_at", UTCDateTime(), nullable=False),
    Column("conv_window", Integer, nullable=False),
    Column("exposures", Text, nullable=False),  # comma-separated; names never contain a comma
    Index("ix_attribution_facts_first", "journey_model", "first_at"),
)

# attribution_facts counted per UTC day ("d") and month ("m") of first_at: `n` contacts, of
# which c<w> converted within w days (w in journey_state.analytics.facts.WINDOWS). Every
# count is also kept summed over personas, under persona "*".
attribution_rollup = Table(
    "attribution_rollup",
    metadata,
    *_rollup_scope(),
    Column("stage", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # stage | intent | offer
    Column("item", String(64), nullable=False),  # "" for kind stage
    Column("n", Integer, nullable=False),
    *(Column(f"c{w}", Integer, nullable=False) for w in (1, 3, 7, 14, 30, 60, 90)),
    PrimaryKeyConstraint("journey_model", "channel", "persona", "grain", "bucket", "stage", "kind", "item"),
)

# -- identity -----------------------------------------------------------------

contact_identifiers = Table(
    "contact_identifiers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # email | phone
    Column("value", String(255), nullable=False),  # normalised
    Column("verified_at", UTCDateTime(), nullable=False),
    Column("source", String(16), nullable=False),
    UniqueConstraint("kind", "value", name="uq_contact_identifier"),
    Index("ix_contact_identifiers_contact", "contact_id"),
)

contact_merges = Table(
    "contact_merges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("survivor_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("merged_uid", String(32), nullable=False, unique=True),
    Column("identifier_kind", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("moved", JSON, nullable=False),
    Index("ix_contact_merges_survivor", "survivor_id"),
)

# -- business events ------------------------------------------------------------

business_events = Table(
    "business_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("payload", JSON, nullable=False),
    Index("ix_business_events_contact_at", "contact_id", "occurred_at"),
    Index("ix_business_events_type_at", "type", "occurred_at"),
)

# -- feedback, offers, referrals, loyalty, handoffs -------------------------------

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),  # nps | csat
    Column("score", Integer, nullable=False),
    Column("comment", Text),
    Column("stage", String(64), nullable=False),
    Column("channel", String(32)),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="SET NULL")),
    Column("at", UTCDateTime(), nullable=False),
    CheckConstraint(
        "(kind = 'nps' AND score BETWEEN 0 AND 10) OR (kind = 'csat' AND score BETWEEN 1 AND 5)",
        name="ck_feedback_score_range",
    ),
    Index("ix_feedback_contact_at", "contact_id", "at"),
    Index("ix_feedback_kind_at", "kind", "at"),
    Index("ix_feedback_handoff", "handoff_id"),  # CSAT after handoff (analytics)
)

offer_events = Table(
    "offer_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # shown | redeemed
    Column("stage", String(64), nullable=False),
    Column("channel", String(32)),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_offer_events_contact_offer", "contact_id", "offer_id", "at"),
    Index("ix_offer_events_offer_kind", "offer_id", "kind", "at"),
    Index("ix_offer_events_at", "at"),
)

referral_codes = Table(
    "referral_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_referral_codes_contact", "contact_id"),
)

referral_attributions = Table(
    "referral_attributions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_id", Integer, ForeignKey("referral_codes.id", ondelete="CASCADE"), nullable=False),
    Column("referred_contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_referral_attributions_code", "code_id"),
)

loyalty_ledger = Table(
    "loyalty_ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("points", Integer, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("reference", String(200), nullable=False),  # makes each credit idempotent
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("contact_id", "reference", name="uq_loyalty_reference"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("sender_id", String(255), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # queued | assigned | returned | closed
    Column("agent", String(64)),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    # When the queued customer was last told their place and wait (journey_state.handoff.waiting_update_due).
    Column("acknowledged_at", UTCDateTime()),
    Index("ix_handoffs_status_priority", "status", "priority", "created_at"),
    Index("ix_handoffs_contact", "contact_id", "created_at"),
    Index("ix_handoffs_created", "created_at"),
)

erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("receipt_id", String(32), nullable=False, unique=True),
    Column("contact_hash", String(64), nullable=False),  # sha256 of the erased contact's id; no personal data
    Column("at", UTCDateTime(), nullable=False),
    Column("deleted", JSON, nullable=False),
)
