-- The operation journal: one row per long-running operation and one per
-- step transition, so a restarted daemon can finish or roll back whatever a
-- killed one left in flight. target is not a foreign key: an operation
-- outlives the VM or image it deleted.

CREATE TABLE operations (
	id          TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
	kind        TEXT    NOT NULL CHECK (kind <> ''),
	target      TEXT    NOT NULL DEFAULT '',
	state       TEXT    NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'rolled_back')),
	step        TEXT    NOT NULL DEFAULT '',
	error       TEXT    NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL,
	finished_at INTEGER
) STRICT;

CREATE INDEX operations_by_started ON operations (started_at, id);
CREATE INDEX operations_running ON operations (started_at) WHERE state = 'running';

CREATE TABLE op_steps (
	op_id  TEXT    NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
	seq    INTEGER NOT NULL CHECK (seq >= 0),
	step   TEXT    NOT NULL CHECK (step <> ''),
	status TEXT    NOT NULL CHECK (status IN ('started', 'done', 'failed', 'undone', 'undo_failed')),
	at     INTEGER NOT NULL,
	error  TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (op_id, seq)
) STRICT, WITHOUT ROWID;
