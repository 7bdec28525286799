/*
 * The store's migrations, oldest first. Rules (docs/store.md):
 *   - never edit a step that has shipped: add a new one at the end;
 *   - a step is plain SQL, run inside one transaction together with the
 *     bump of PRAGMA user_version, so it applies entirely or not at all;
 *   - no PRAGMA that cannot run inside a transaction (journal_mode, ...):
 *     store.c sets those on every open.
 * Times are integer milliseconds since the epoch (UTC). Foreign keys have no
 * ON DELETE CASCADE on purpose: store_customer_forget() deletes each table
 * explicitly and counts the rows, and a table added later that points at a
 * customer makes forget fail loudly (FOREIGN KEY) until forget learns it,
 * instead of leaving personal data behind.
 */
#include "firmware/store.h"

static const char migration_1[] =
    "CREATE TABLE customers (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n" /* never reused: old audit ids stay unambiguous */
    "  display_name TEXT NOT NULL\n"
    "    CONSTRAINT customers_name_len\n"
    "    CHECK (length(CAST(display_name AS BLOB)) BETWEEN 1 AND 128),\n"
    "  created_at INTEGER NOT NULL,\n"
    "  last_seen INTEGER\n"
    ");\n"
    "CREATE TABLE consents (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  kind TEXT NOT NULL CONSTRAINT consents_kind_len CHECK (length(kind) BETWEEN 1 AND 64),\n"
    "  granted_at INTEGER NOT NULL,\n"
    "  method TEXT NOT NULL CONSTRAINT consents_method CHECK (method IN ('kiosk', 'staff')),\n"
    "  granted_by TEXT,\n"
    "  revoked_at INTEGER\n"
    ");\n"
    /* Revoked rows stay as history; only one live consent per kind. */
    "CREATE UNIQUE INDEX consents_active ON consents(customer_id, kind) WHERE revoked_at IS NULL;\n"
    "CREATE INDEX consents_customer ON consents(customer_id);\n"
    "CREATE TABLE face_embeddings (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  vector BLOB NOT NULL CONSTRAINT face_embeddings_dim CHECK (length(vector) = 512),\n"
    "  created_at INTEGER NOT NULL,\n"
    "  source TEXT NOT NULL CONSTRAINT face_embeddings_source_len CHECK (length(source) BETWEEN 1 "
    "AND 64)\n"
    ");\n"
    "CREATE INDEX face_embeddings_customer ON face_embeddings(customer_id);\n"
    /* iBeacon: uuid 16 bytes, major, minor, instance empty.
     * Eddystone-UID: uuid = 10-byte namespace, major = minor = 0, instance 6 bytes. */
    "CREATE TABLE beacons (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
    "  kind TEXT NOT NULL CONSTRAINT beacons_kind CHECK (kind IN ('ibeacon', 'eddystone')),\n"
    "  uuid BLOB NOT NULL,\n"
    "  major INTEGER NOT NULL CONSTRAINT beacons_major CHECK (major BETWEEN 0 AND 65535),\n"
    "  minor INTEGER NOT NULL CONSTRAINT beacons_minor CHECK (minor BETWEEN 0 AND 65535),\n"
    "  instance BLOB NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  CONSTRAINT beacons_shape CHECK (\n"
    "    (kind = 'ibeacon' AND length(uuid) = 16 AND length(instance) = 0) OR\n"
    "    (kind = 'eddystone' AND length(uuid) = 10 AND length(instance) = 6\n"
    "     AND major = 0 AND minor = 0)),\n"
    "  UNIQUE (kind, uuid, major, minor, instance)\n"
    ");\n"
    "CREATE INDEX beacons_customer ON beacons(customer_id);\n"
    "CREATE TABLE visits (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  customer_id INTEGER REFERENCES customers(id),\n" /* NULL: anonymous */
    "  started_at INTEGER NOT NULL,\n"
    "  ended_at INTEGER,\n"
    "  summary TEXT CONSTRAINT visits_summary_len CHECK (length(CAST(summary AS BLOB)) <= 4096)\n"
    ");\n"
    "CREATE INDEX visits_customer ON visits(customer_id);\n"
    /* Retention purges anonymous visits by age. */
    "CREATE INDEX visits_anonymous_age ON visits(coalesce(ended_at, started_at))\n"
    "  WHERE customer_id IS NULL;\n"
    "CREATE TABLE sessions (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  visit_id INTEGER NOT NULL REFERENCES visits(id),\n"
    "  state TEXT NOT NULL CONSTRAINT sessions_state_len CHECK (length(state) BETWEEN 1 AND 64),\n"
    "  archetype TEXT CONSTRAINT sessions_archetype_len CHECK (length(archetype) BETWEEN 1 AND "
    "64),\n"
    "  opened_at INTEGER NOT NULL,\n"
    "  closed_at INTEGER\n"
    ");\n"
    "CREATE INDEX sessions_visit ON sessions(visit_id);\n"
    /* Resume after a restart looks only at open sessions. */
    "CREATE INDEX sessions_open ON sessions(opened_at) WHERE closed_at IS NULL;\n"
    "CREATE TABLE turns (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id),\n"
    "  seq INTEGER NOT NULL CONSTRAINT turns_seq CHECK (seq >= 1),\n"
    "  role TEXT NOT NULL\n"
    "    CONSTRAINT turns_role CHECK (role IN ('customer', 'agent', 'staff', 'system')),\n"
    "  text TEXT NOT NULL CONSTRAINT turns_text_len CHECK (length(CAST(text AS BLOB)) <= 16384),\n"
    "  created_at INTEGER NOT NULL,\n"
    "  meta TEXT CONSTRAINT turns_meta_json CHECK (meta IS NULL OR json_valid(meta)),\n"
    "  UNIQUE (session_id, seq)\n"
    ");\n"
    "CREATE TABLE audit (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  ts INTEGER NOT NULL,\n"
    "  session_id INTEGER REFERENCES sessions(id),\n"
    "  customer_id INTEGER REFERENCES customers(id),\n"
    "  kind TEXT NOT NULL CONSTRAINT audit_kind_len CHECK (length(kind) BETWEEN 1 AND 64),\n"
    "  detail TEXT CONSTRAINT audit_detail_json CHECK (detail IS NULL OR json_valid(detail))\n"
    ");\n"
    "CREATE INDEX audit_session ON audit(session_id) WHERE session_id IS NOT NULL;\n"
    "CREATE INDEX audit_customer ON audit(customer_id) WHERE customer_id IS NOT NULL;\n"
    "CREATE INDEX audit_kind_ts ON audit(kind, ts);\n"
    "CREATE TABLE staff_devices (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL CONSTRAINT staff_devices_name_len\n"
    "    CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 128),\n"
    "  token_hash BLOB NOT NULL UNIQUE\n"
    "    CONSTRAINT staff_devices_hash_len CHECK (length(token_hash) = 32),\n"
    "  paired_at INTEGER NOT NULL,\n"
    "  revoked_at INTEGER\n"
    ");\n"
    "CREATE UNIQUE INDEX staff_devices_active_name ON staff_devices(name)\n"
    "  WHERE revoked_at IS NULL;\n";

static const struct store_migration migrations[] = {
    {1,
     "tables for customers, consents, embeddings, beacons, visits, sessions, turns, "
     "audit, staff devices",
     migration_1},
};

const struct store_migration *store_schema_migrations(size_t *ret_count)
{
	*ret_count = sizeof(migrations) / sizeof(migrations[0]);
	return migrations;
}

int store_schema_latest(void)
{
	return migrations[sizeof(migrations) / sizeof(migrations[0]) - 1].version;
}
