"""Analytics rollups kept exact by triggers (journey_state/store/rollups.py): touch_rollup
(touchpoint counts per day and month) and stage_stays (each contact's stays in a stage),
filled from the existing data; indexes for partial days, complaints and segments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_touchpoints_intent_at", "touchpoints", ["intent", "at"]),
    ("ix_touchpoints_at", "touchpoints", ["at", "stage", "channel", "intent", "emotion"]),  # partial days around the rollup
    ("ix_contacts_model_persona", "contacts", ["journey_model", "persona"]),
    ("ix_channel_identities_channel", "channel_identities", ["channel", "contact_id"]),
)


# The triggers' DDL as it was at this revision, frozen here so that later changes to
# journey_state/store/rollups.py cannot change what this migration does.
TRIGGERS = (
    ("tr_touch_rollup_insert", "touchpoints"),
    ("tr_touch_rollup_delete", "touchpoints"),
    ("tr_touch_rollup_update", "touchpoints"),
    ("tr_touch_rollup_contact", "contacts"),
    ("tr_rollups_contact_delete", "contacts"),
    ("tr_stage_stays_insert", "transitions"),
    ("tr_stage_stays_delete", "transitions"),
    ("tr_stage_stays_update", "transitions"),
    ("tr_stage_stays_contact_insert", "contacts"),
    ("tr_stage_stays_contact_update", "contacts"),
)

FUNCTIONS = (
    "touch_rollup_touch",
    "touch_rollup_contact",
    "rollups_contact_delete",
    "stage_stays_refresh",
    "stage_stays_transition",
    "stage_stays_contact",
)

SQLITE_DDL = (
    (
        "CREATE TRIGGER tr_touch_rollup_insert AFTER INSERT ON touchpoints BEGIN INSERT INTO touch_rollup (grain, "
        "bucket, journey_model, persona, stage, channel, intent, emotion, n) SELECT 'd', substr(NEW.at, 1, 10), "
        "c.journey_model, COALESCE(c.persona, ''), NEW.stage, NEW.channel, COALESCE(NEW.intent, ''), "
        "COALESCE(NEW.emotion, ''), 1 FROM contacts c WHERE c.id = NEW.contact_id UNION ALL SELECT 'm', "
        "substr(NEW.at, 1, 7), c.journey_model, COALESCE(c.persona, ''), NEW.stage, NEW.channel, "
        "COALESCE(NEW.intent, ''), COALESCE(NEW.emotion, ''), 1 FROM contacts c WHERE c.id = NEW.contact_id ON "
        "CONFLICT (grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = "
        "touch_rollup.n + excluded.n; END"
    ),
    (
        "CREATE TRIGGER tr_touch_rollup_delete AFTER DELETE ON touchpoints BEGIN INSERT INTO touch_rollup (grain, "
        "bucket, journey_model, persona, stage, channel, intent, emotion, n) SELECT 'd', substr(OLD.at, 1, 10), "
        "c.journey_model, COALESCE(c.persona, ''), OLD.stage, OLD.channel, COALESCE(OLD.intent, ''), "
        "COALESCE(OLD.emotion, ''), -1 FROM contacts c WHERE c.id = OLD.contact_id UNION ALL SELECT 'm', "
        "substr(OLD.at, 1, 7), c.journey_model, COALESCE(c.persona, ''), OLD.stage, OLD.channel, "
        "COALESCE(OLD.intent, ''), COALESCE(OLD.emotion, ''), -1 FROM contacts c WHERE c.id = OLD.contact_id ON "
        "CONFLICT (grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = "
        "touch_rollup.n + excluded.n; END"
    ),
    (
        "CREATE TRIGGER tr_touch_rollup_update AFTER UPDATE OF contact_id, stage, channel, intent, emotion, at ON "
        "touchpoints BEGIN INSERT INTO touch_rollup (grain, bucket, journey_model, persona, stage, channel, "
        "intent, emotion, n) SELECT 'd', substr(OLD.at, 1, 10), c.journey_model, COALESCE(c.persona, ''), "
        "OLD.stage, OLD.channel, COALESCE(OLD.intent, ''), COALESCE(OLD.emotion, ''), -1 FROM contacts c WHERE "
        "c.id = OLD.contact_id UNION ALL SELECT 'm', substr(OLD.at, 1, 7), c.journey_model, COALESCE(c.persona, "
        "''), OLD.stage, OLD.channel, COALESCE(OLD.intent, ''), COALESCE(OLD.emotion, ''), -1 FROM contacts c "
        "WHERE c.id = OLD.contact_id ON CONFLICT (grain, bucket, journey_model, persona, stage, channel, intent, "
        "emotion) DO UPDATE SET n = touch_rollup.n + excluded.n; INSERT INTO touch_rollup (grain, bucket, "
        "journey_model, persona, stage, channel, intent, emotion, n) SELECT 'd', substr(NEW.at, 1, 10), "
        "c.journey_model, COALESCE(c.persona, ''), NEW.stage, NEW.channel, COALESCE(NEW.intent, ''), "
        "COALESCE(NEW.emotion, ''), 1 FROM contacts c WHERE c.id = NEW.contact_id UNION ALL SELECT 'm', "
        "substr(NEW.at, 1, 7), c.journey_model, COALESCE(c.persona, ''), NEW.stage, NEW.channel, "
        "COALESCE(NEW.intent, ''), COALESCE(NEW.emotion, ''), 1 FROM contacts c WHERE c.id = NEW.contact_id ON "
        "CONFLICT (grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = "
        "touch_rollup.n + excluded.n; END"
    ),
    (
        "CREATE TRIGGER tr_touch_rollup_contact AFTER UPDATE OF persona, journey_model ON contacts WHEN "
        "(OLD.persona IS NOT NEW.persona OR OLD.journey_model <> NEW.journey_model) BEGIN INSERT INTO "
        "touch_rollup (grain, bucket, journey_model, persona, stage, channel, intent, emotion, n) SELECT 'd', "
        "substr(t.at, 1, 10) AS b, OLD.journey_model, COALESCE(OLD.persona, ''), t.stage, t.channel, "
        "COALESCE(t.intent, ''), COALESCE(t.emotion, ''), -1 * COUNT(*) FROM touchpoints t WHERE t.contact_id = "
        "OLD.id GROUP BY b, t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '') UNION ALL SELECT "
        "'m', substr(t.at, 1, 7) AS b, OLD.journey_model, COALESCE(OLD.persona, ''), t.stage, t.channel, "
        "COALESCE(t.intent, ''), COALESCE(t.emotion, ''), -1 * COUNT(*) FROM touchpoints t WHERE t.contact_id = "
        "OLD.id GROUP BY b, t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '') ON CONFLICT "
        "(grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = "
        "touch_rollup.n + excluded.n; INSERT INTO touch_rollup (grain, bucket, journey_model, persona, stage, "
        "channel, intent, emotion, n) SELECT 'd', substr(t.at, 1, 10) AS b, NEW.journey_model, "
        "COALESCE(NEW.persona, ''), t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, ''), 1 * "
        "COUNT(*) FROM touchpoints t WHERE t.contact_id = NEW.id GROUP BY b, t.stage, t.channel, "
        "COALESCE(t.intent, ''), COALESCE(t.emotion, '') UNION ALL SELECT 'm', substr(t.at, 1, 7) AS b, "
        "NEW.journey_model, COALESCE(NEW.persona, ''), t.stage, t.channel, COALESCE(t.intent, ''), "
        "COALESCE(t.emotion, ''), 1 * COUNT(*) FROM touchpoints t WHERE t.contact_id = NEW.id GROUP BY b, "
        "t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '') ON CONFLICT (grain, bucket, "
        "journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = touch_rollup.n + excluded.n; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_rollups_contact_delete BEFORE DELETE ON contacts BEGIN DELETE FROM touchpoints WHERE "
        "contact_id = OLD.id; DELETE FROM transitions WHERE contact_id = OLD.id; DELETE FROM stage_stays WHERE "
        "contact_id = OLD.id; END"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_insert AFTER INSERT ON transitions WHEN NEW.kind = 'stage' BEGIN DELETE "
        "FROM stage_stays WHERE contact_id = NEW.contact_id; INSERT INTO stage_stays (contact_id, seq, "
        "journey_model, persona, stage, entered_at, left_at, seconds) SELECT e.cid, e.seq, c.journey_model, "
        "COALESCE(c.persona, ''), e.stage, e.at, e.nxt, ((julianday(e.nxt) - 2440587.5) * 86400.0) - "
        "((julianday(e.at) - 2440587.5) * 86400.0) FROM (SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY "
        "cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM "
        "contacts c WHERE 1 = 1 AND c.id = NEW.contact_id UNION ALL SELECT t.contact_id, t.id, t.to_value, t.at "
        "FROM transitions t WHERE t.kind = 'stage' AND t.contact_id = NEW.contact_id) u) e JOIN contacts c ON "
        "c.id = e.cid; END"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_delete AFTER DELETE ON transitions WHEN OLD.kind = 'stage' BEGIN DELETE "
        "FROM stage_stays WHERE contact_id = OLD.contact_id; INSERT INTO stage_stays (contact_id, seq, "
        "journey_model, persona, stage, entered_at, left_at, seconds) SELECT e.cid, e.seq, c.journey_model, "
        "COALESCE(c.persona, ''), e.stage, e.at, e.nxt, ((julianday(e.nxt) - 2440587.5) * 86400.0) - "
        "((julianday(e.at) - 2440587.5) * 86400.0) FROM (SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY "
        "cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM "
        "contacts c WHERE 1 = 1 AND c.id = OLD.contact_id UNION ALL SELECT t.contact_id, t.id, t.to_value, t.at "
        "FROM transitions t WHERE t.kind = 'stage' AND t.contact_id = OLD.contact_id) u) e JOIN contacts c ON "
        "c.id = e.cid; END"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_update AFTER UPDATE OF contact_id, kind, to_value, at ON transitions BEGIN "
        "DELETE FROM stage_stays WHERE contact_id = OLD.contact_id; INSERT INTO stage_stays (contact_id, seq, "
        "journey_model, persona, stage, entered_at, left_at, seconds) SELECT e.cid, e.seq, c.journey_model, "
        "COALESCE(c.persona, ''), e.stage, e.at, e.nxt, ((julianday(e.nxt) - 2440587.5) * 86400.0) - "
        "((julianday(e.at) - 2440587.5) * 86400.0) FROM (SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY "
        "cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM "
        "contacts c WHERE 1 = 1 AND c.id = OLD.contact_id UNION ALL SELECT t.contact_id, t.id, t.to_value, t.at "
        "FROM transitions t WHERE t.kind = 'stage' AND t.contact_id = OLD.contact_id) u) e JOIN contacts c ON "
        "c.id = e.cid; DELETE FROM stage_stays WHERE contact_id = NEW.contact_id; INSERT INTO stage_stays "
        "(contact_id, seq, journey_model, persona, stage, entered_at, left_at, seconds) SELECT e.cid, e.seq, "
        "c.journey_model, COALESCE(c.persona, ''), e.stage, e.at, e.nxt, ((julianday(e.nxt) - 2440587.5) * "
        "86400.0) - ((julianday(e.at) - 2440587.5) * 86400.0) FROM (SELECT cid, seq, stage, at, LEAD(at) OVER "
        "(PARTITION BY cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at "
        "AS at FROM contacts c WHERE 1 = 1 AND c.id = NEW.contact_id UNION ALL SELECT t.contact_id, t.id, "
        "t.to_value, t.at FROM transitions t WHERE t.kind = 'stage' AND t.contact_id = NEW.contact_id) u) e JOIN "
        "contacts c ON c.id = e.cid; END"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_contact_insert AFTER INSERT ON contacts BEGIN DELETE FROM stage_stays "
        "WHERE contact_id = NEW.id; INSERT INTO stage_stays (contact_id, seq, journey_model, persona, stage, "
        "entered_at, left_at, seconds) SELECT e.cid, e.seq, c.journey_model, COALESCE(c.persona, ''), e.stage, "
        "e.at, e.nxt, ((julianday(e.nxt) - 2440587.5) * 86400.0) - ((julianday(e.at) - 2440587.5) * 86400.0) FROM "
        "(SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY cid ORDER BY at, seq) AS nxt FROM (SELECT c.id "
        "AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM contacts c WHERE 1 = 1 AND c.id = NEW.id UNION "
        "ALL SELECT t.contact_id, t.id, t.to_value, t.at FROM transitions t WHERE t.kind = 'stage' AND "
        "t.contact_id = NEW.id) u) e JOIN contacts c ON c.id = e.cid; END"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_contact_update AFTER UPDATE OF created_at, persona, journey_model ON "
        "contacts BEGIN DELETE FROM stage_stays WHERE contact_id = NEW.id; INSERT INTO stage_stays (contact_id, "
        "seq, journey_model, persona, stage, entered_at, left_at, seconds) SELECT e.cid, e.seq, c.journey_model, "
        "COALESCE(c.persona, ''), e.stage, e.at, e.nxt, ((julianday(e.nxt) - 2440587.5) * 86400.0) - "
        "((julianday(e.at) - 2440587.5) * 86400.0) FROM (SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY "
        "cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM "
        "contacts c WHERE 1 = 1 AND c.id = NEW.id UNION ALL SELECT t.contact_id, t.id, t.to_value, t.at FROM "
        "transitions t WHERE t.kind = 'stage' AND t.contact_id = NEW.id) u) e JOIN contacts c ON c.id = e.cid; "
        "END"
    ),
)

POSTGRES_DDL = (
    (
        "CREATE FUNCTION touch_rollup_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP IN ('UPDATE', "
        "'DELETE') THEN INSERT INTO touch_rollup (grain, bucket, journey_model, persona, stage, channel, intent, "
        "emotion, n) SELECT 'd', to_char(OLD.at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), c.journey_model, "
        "COALESCE(c.persona, ''), OLD.stage, OLD.channel, COALESCE(OLD.intent, ''), COALESCE(OLD.emotion, ''), -1 "
        "FROM contacts c WHERE c.id = OLD.contact_id UNION ALL SELECT 'm', to_char(OLD.at AT TIME ZONE 'UTC', "
        "'YYYY-MM'), c.journey_model, COALESCE(c.persona, ''), OLD.stage, OLD.channel, COALESCE(OLD.intent, ''), "
        "COALESCE(OLD.emotion, ''), -1 FROM contacts c WHERE c.id = OLD.contact_id ON CONFLICT (grain, bucket, "
        "journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = touch_rollup.n + excluded.n; "
        "END IF; IF TG_OP IN ('UPDATE', 'INSERT') THEN INSERT INTO touch_rollup (grain, bucket, journey_model, "
        "persona, stage, channel, intent, emotion, n) SELECT 'd', to_char(NEW.at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD'), c.journey_model, COALESCE(c.persona, ''), NEW.stage, NEW.channel, COALESCE(NEW.intent, "
        "''), COALESCE(NEW.emotion, ''), 1 FROM contacts c WHERE c.id = NEW.contact_id UNION ALL SELECT 'm', "
        "to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM'), c.journey_model, COALESCE(c.persona, ''), NEW.stage, "
        "NEW.channel, COALESCE(NEW.intent, ''), COALESCE(NEW.emotion, ''), 1 FROM contacts c WHERE c.id = "
        "NEW.contact_id ON CONFLICT (grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO "
        "UPDATE SET n = touch_rollup.n + excluded.n; END IF; RETURN NULL; END $$"
    ),
    (
        "CREATE FUNCTION touch_rollup_contact() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF (OLD.persona IS "
        "DISTINCT FROM NEW.persona OR OLD.journey_model <> NEW.journey_model) THEN INSERT INTO touch_rollup "
        "(grain, bucket, journey_model, persona, stage, channel, intent, emotion, n) SELECT 'd', to_char(t.at AT "
        "TIME ZONE 'UTC', 'YYYY-MM-DD') AS b, OLD.journey_model, COALESCE(OLD.persona, ''), t.stage, t.channel, "
        "COALESCE(t.intent, ''), COALESCE(t.emotion, ''), -1 * COUNT(*) FROM touchpoints t WHERE t.contact_id = "
        "OLD.id GROUP BY b, t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '') UNION ALL SELECT "
        "'m', to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM') AS b, OLD.journey_model, COALESCE(OLD.persona, ''), "
        "t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, ''), -1 * COUNT(*) FROM touchpoints t "
        "WHERE t.contact_id = OLD.id GROUP BY b, t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, "
        "'') ON CONFLICT (grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n "
        "= touch_rollup.n + excluded.n; INSERT INTO touch_rollup (grain, bucket, journey_model, persona, stage, "
        "channel, intent, emotion, n) SELECT 'd', to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS b, "
        "NEW.journey_model, COALESCE(NEW.persona, ''), t.stage, t.channel, COALESCE(t.intent, ''), "
        "COALESCE(t.emotion, ''), 1 * COUNT(*) FROM touchpoints t WHERE t.contact_id = NEW.id GROUP BY b, "
        "t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '') UNION ALL SELECT 'm', to_char(t.at "
        "AT TIME ZONE 'UTC', 'YYYY-MM') AS b, NEW.journey_model, COALESCE(NEW.persona, ''), t.stage, t.channel, "
        "COALESCE(t.intent, ''), COALESCE(t.emotion, ''), 1 * COUNT(*) FROM touchpoints t WHERE t.contact_id = "
        "NEW.id GROUP BY b, t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '') ON CONFLICT "
        "(grain, bucket, journey_model, persona, stage, channel, intent, emotion) DO UPDATE SET n = "
        "touch_rollup.n + excluded.n; END IF; RETURN NULL; END $$"
    ),
    (
        "CREATE FUNCTION rollups_contact_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM "
        "touchpoints WHERE contact_id = OLD.id; DELETE FROM transitions WHERE contact_id = OLD.id; DELETE FROM "
        "stage_stays WHERE contact_id = OLD.id; RETURN OLD; END $$"
    ),
    (
        "CREATE FUNCTION stage_stays_refresh(p_contact integer) RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE "
        "FROM stage_stays WHERE contact_id = p_contact; INSERT INTO stage_stays (contact_id, seq, journey_model, "
        "persona, stage, entered_at, left_at, seconds) SELECT e.cid, e.seq, c.journey_model, COALESCE(c.persona, "
        "''), e.stage, e.at, e.nxt, CAST(EXTRACT(epoch FROM e.nxt) AS FLOAT) - CAST(EXTRACT(epoch FROM e.at) AS "
        "FLOAT) FROM (SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY cid ORDER BY at, seq) AS nxt FROM "
        "(SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM contacts c WHERE 1 = 1 AND c.id = "
        "p_contact UNION ALL SELECT t.contact_id, t.id, t.to_value, t.at FROM transitions t WHERE t.kind = "
        "'stage' AND t.contact_id = p_contact) u) e JOIN contacts c ON c.id = e.cid; END $$"
    ),
    (
        "CREATE FUNCTION stage_stays_transition() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP IN "
        "('UPDATE', 'DELETE') THEN PERFORM stage_stays_refresh(OLD.contact_id); END IF; IF TG_OP IN ('UPDATE', "
        "'INSERT') AND (TG_OP = 'UPDATE' OR NEW.kind = 'stage') THEN PERFORM stage_stays_refresh(NEW.contact_id); "
        "END IF; RETURN NULL; END $$"
    ),
    (
        "CREATE FUNCTION stage_stays_contact() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM "
        "stage_stays_refresh(NEW.id); RETURN NULL; END $$"
    ),
    (
        "CREATE TRIGGER tr_touch_rollup_insert AFTER INSERT OR DELETE ON touchpoints FOR EACH ROW  EXECUTE "
        "FUNCTION touch_rollup_touch()"
    ),
    (
        "CREATE TRIGGER tr_touch_rollup_update AFTER UPDATE OF contact_id, stage, channel, intent, emotion, at ON "
        "touchpoints FOR EACH ROW  EXECUTE FUNCTION touch_rollup_touch()"
    ),
    (
        "CREATE TRIGGER tr_touch_rollup_contact AFTER UPDATE OF persona, journey_model ON contacts FOR EACH ROW  "
        "EXECUTE FUNCTION touch_rollup_contact()"
    ),
    (
        "CREATE TRIGGER tr_rollups_contact_delete BEFORE DELETE ON contacts FOR EACH ROW  EXECUTE FUNCTION "
        "rollups_contact_delete()"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_insert AFTER INSERT ON transitions FOR EACH ROW WHEN (NEW.kind = 'stage') "
        "EXECUTE FUNCTION stage_stays_transition()"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_delete AFTER DELETE ON transitions FOR EACH ROW WHEN (OLD.kind = 'stage') "
        "EXECUTE FUNCTION stage_stays_transition()"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_update AFTER UPDATE OF contact_id, kind, to_value, at ON transitions FOR "
        "EACH ROW  EXECUTE FUNCTION stage_stays_transition()"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_contact_insert AFTER INSERT ON contacts FOR EACH ROW  EXECUTE FUNCTION "
        "stage_stays_contact()"
    ),
    (
        "CREATE TRIGGER tr_stage_stays_contact_update AFTER UPDATE OF created_at, persona, journey_model ON "
        "contacts FOR EACH ROW  EXECUTE FUNCTION stage_stays_contact()"
    ),
)

SQLITE_FILL = (
    "DELETE FROM touch_rollup",
    (
        "INSERT INTO touch_rollup (grain, bucket, journey_model, persona, stage, channel, intent, emotion, n) "
        "SELECT 'd' AS grain, substr(touchpoints.at, 1, 10) AS bucket, contacts.journey_model, "
        "coalesce(contacts.persona, '') AS coalesce_1, touchpoints.stage, touchpoints.channel, "
        "coalesce(touchpoints.intent, '') AS coalesce_2, coalesce(touchpoints.emotion, '') AS coalesce_3, "
        "count(*) AS n  FROM touchpoints JOIN contacts ON contacts.id = touchpoints.contact_id GROUP BY "
        "substr(touchpoints.at, 1, 10), contacts.journey_model, coalesce(contacts.persona, ''), "
        "touchpoints.stage, touchpoints.channel, coalesce(touchpoints.intent, ''), coalesce(touchpoints.emotion, "
        "'') UNION ALL SELECT 'm' AS grain, substr(touchpoints.at, 1, 7) AS bucket, contacts.journey_model, "
        "coalesce(contacts.persona, '') AS coalesce_1, touchpoints.stage, touchpoints.channel, "
        "coalesce(touchpoints.intent, '') AS coalesce_2, coalesce(touchpoints.emotion, '') AS coalesce_3, "
        "count(*) AS n  FROM touchpoints JOIN contacts ON contacts.id = touchpoints.contact_id GROUP BY "
        "substr(touchpoints.at, 1, 7), contacts.journey_model, coalesce(contacts.persona, ''), touchpoints.stage, "
        "touchpoints.channel, coalesce(touchpoints.intent, ''), coalesce(touchpoints.emotion, '')"
    ),
    "DELETE FROM stage_stays",
    (
        "INSERT INTO stage_stays (contact_id, seq, journey_model, persona, stage, entered_at, left_at, seconds) "
        "SELECT e.cid, e.seq, c.journey_model, COALESCE(c.persona, ''), e.stage, e.at, e.nxt, ((julianday(e.nxt) "
        "- 2440587.5) * 86400.0) - ((julianday(e.at) - 2440587.5) * 86400.0) FROM (SELECT cid, seq, stage, at, "
        "LEAD(at) OVER (PARTITION BY cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS "
        "stage, c.created_at AS at FROM contacts c WHERE 1 = 1 UNION ALL SELECT t.contact_id, t.id, t.to_value, "
        "t.at FROM transitions t WHERE t.kind = 'stage') u) e JOIN contacts c ON c.id = e.cid"
    ),
)

POSTGRES_FILL = (
    "DELETE FROM touch_rollup",
    (
        "INSERT INTO touch_rollup (grain, bucket, journey_model, persona, stage, channel, intent, emotion, n) "
        "SELECT 'd' AS grain, to_char(touchpoints.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS bucket, "
        "contacts.journey_model, coalesce(contacts.persona, '') AS coalesce_1, touchpoints.stage, "
        "touchpoints.channel, coalesce(touchpoints.intent, '') AS coalesce_2, coalesce(touchpoints.emotion, '') "
        "AS coalesce_3, count(*) AS n  FROM touchpoints JOIN contacts ON contacts.id = touchpoints.contact_id "
        "GROUP BY to_char(touchpoints.at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), contacts.journey_model, "
        "coalesce(contacts.persona, ''), touchpoints.stage, touchpoints.channel, coalesce(touchpoints.intent, "
        "''), coalesce(touchpoints.emotion, '') UNION ALL SELECT 'm' AS grain, to_char(touchpoints.at AT TIME "
        "ZONE 'UTC', 'YYYY-MM') AS bucket, contacts.journey_model, coalesce(contacts.persona, '') AS coalesce_1, "
        "touchpoints.stage, touchpoints.channel, coalesce(touchpoints.intent, '') AS coalesce_2, "
        "coalesce(touchpoints.emotion, '') AS coalesce_3, count(*) AS n  FROM touchpoints JOIN contacts ON "
        "contacts.id = touchpoints.contact_id GROUP BY to_char(touchpoints.at AT TIME ZONE 'UTC', 'YYYY-MM'), "
        "contacts.journey_model, coalesce(contacts.persona, ''), touchpoints.stage, touchpoints.channel, "
        "coalesce(touchpoints.intent, ''), coalesce(touchpoints.emotion, '')"
    ),
    "DELETE FROM stage_stays",
    (
        "INSERT INTO stage_stays (contact_id, seq, journey_model, persona, stage, entered_at, left_at, seconds) "
        "SELECT e.cid, e.seq, c.journey_model, COALESCE(c.persona, ''), e.stage, e.at, e.nxt, CAST(EXTRACT(epoch "
        "FROM e.nxt) AS FLOAT) - CAST(EXTRACT(epoch FROM e.at) AS FLOAT) FROM (SELECT cid, seq, stage, at, "
        "LEAD(at) OVER (PARTITION BY cid ORDER BY at, seq) AS nxt FROM (SELECT c.id AS cid, 0 AS seq, '' AS "
        "stage, c.created_at AS at FROM contacts c WHERE 1 = 1 UNION ALL SELECT t.contact_id, t.id, t.to_value, "
        "t.at FROM transitions t WHERE t.kind = 'stage') u) e JOIN contacts c ON c.id = e.cid"
    ),
)


def upgrade() -> None:
    op.create_table(
        "touch_rollup",
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("bucket", sa.String(10), primary_key=True),
        sa.Column("journey_model", sa.String(64), primary_key=True),
        sa.Column("persona", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("intent", sa.String(64), primary_key=True),
        sa.Column("emotion", sa.String(16), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.create_table(
        "stage_stays",
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True)),
        sa.Column("seconds", sa.Float),
    )
    op.create_index("ix_stage_stays_entered", "stage_stays", ["journey_model", "entered_at", "stage", "left_at", "persona", "contact_id"])
    op.create_index("ix_stage_stays_seconds", "stage_stays", ["journey_model", "stage", "seconds", "entered_at", "left_at", "persona", "contact_id"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    # The channel joins 0006's index so that attribution with a channel filter still reads the index only.
    op.drop_index("ix_touchpoints_contact_stage", table_name="touchpoints")
    op.create_index("ix_touchpoints_contact_stage", "touchpoints", ["contact_id", "stage", "intent", "at", "channel"])
    conn = op.get_bind()
    _install_triggers(conn)
    for statement in SQLITE_FILL if conn.dialect.name == "sqlite" else POSTGRES_FILL:
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    _drop_triggers(op.get_bind())
    op.drop_index("ix_touchpoints_contact_stage", table_name="touchpoints")
    op.create_index("ix_touchpoints_contact_stage", "touchpoints", ["contact_id", "stage", "intent", "at"])
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("stage_stays")
    op.drop_table("touch_rollup")


def _drop_triggers(conn: Connection) -> None:
    sqlite = conn.dialect.name == "sqlite"
    for name, table in TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        for name in FUNCTIONS:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name} CASCADE")


def _install_triggers(conn: Connection) -> None:
    _drop_triggers(conn)
    for statement in SQLITE_DDL if conn.dialect.name == "sqlite" else POSTGRES_DDL:
        conn.exec_driver_sql(statement)
