-- The schema as the migration code of redesign 4a2d68e left a fresh PostgreSQL database
-- (version 6): every statement it executed, recorded while bot.db.migrate ran, in order.
-- Kept to prove that a database built by the old code is at the same version as the
-- explicit migrations and matches the features' tables (tests/test_schema.py).

CREATE TABLE schema_version (
	version INTEGER NOT NULL
);

CREATE TABLE lag_samples (
	id SERIAL NOT NULL,
	cluster VARCHAR(100) NOT NULL,
	group_id VARCHAR(255) NOT NULL,
	topic VARCHAR(255) NOT NULL,
	partition INTEGER NOT NULL,
	committed BIGINT,
	log_end BIGINT NOT NULL,
	taken_at FLOAT NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_lag_samples_lookup ON lag_samples (cluster, group_id, taken_at);

CREATE TABLE incidents (
	id SERIAL NOT NULL,
	ref VARCHAR(32),
	title VARCHAR(300) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	status VARCHAR(16) NOT NULL,
	alerts_resolved BOOLEAN NOT NULL,
	runbook_id VARCHAR(100) NOT NULL,
	cluster VARCHAR(100),
	group_id VARCHAR(255),
	topic VARCHAR(255),
	queue VARCHAR(255),
	labels JSON NOT NULL,
	source VARCHAR(32) NOT NULL,
	opened_by VARCHAR(64),
	commander VARCHAR(64),
	channel VARCHAR(64),
	thread_ts VARCHAR(32),
	checklist_ts VARCHAR(32),
	dedicated_channel VARCHAR(64),
	created_at FLOAT NOT NULL,
	updated_at FLOAT NOT NULL,
	acknowledged_at FLOAT,
	resolved_at FLOAT,
	resolved_by VARCHAR(64),
	PRIMARY KEY (id),
	UNIQUE (ref)
);

CREATE INDEX ix_incidents_thread ON incidents (channel, thread_ts);

CREATE INDEX ix_incidents_status ON incidents (status);

CREATE TABLE incident_events (
	id SERIAL NOT NULL,
	incident_id INTEGER NOT NULL,
	at FLOAT NOT NULL,
	actor VARCHAR(64) NOT NULL,
	kind VARCHAR(48) NOT NULL,
	text TEXT NOT NULL,
	data JSON,
	PRIMARY KEY (id),
	FOREIGN KEY(incident_id) REFERENCES incidents (id) ON DELETE CASCADE
);

CREATE INDEX ix_incident_events_incident ON incident_events (incident_id, at);

CREATE TABLE incident_alerts (
	id SERIAL NOT NULL,
	incident_id INTEGER NOT NULL,
	fingerprint VARCHAR(128) NOT NULL,
	name VARCHAR(255) NOT NULL,
	status VARCHAR(16) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	labels JSON NOT NULL,
	annotations JSON NOT NULL,
	starts_at VARCHAR(40),
	ends_at VARCHAR(40),
	generator_url TEXT,
	first_seen FLOAT NOT NULL,
	last_seen FLOAT NOT NULL,
	deliveries INTEGER NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_incident_alert UNIQUE (incident_id, fingerprint),
	FOREIGN KEY(incident_id) REFERENCES incidents (id) ON DELETE CASCADE
);

CREATE INDEX ix_incident_alerts_fingerprint ON incident_alerts (fingerprint);

CREATE TABLE alert_dedup (
	key VARCHAR(400) NOT NULL,
	incident_id INTEGER NOT NULL,
	PRIMARY KEY (key),
	FOREIGN KEY(incident_id) REFERENCES incidents (id) ON DELETE CASCADE
);

CREATE TABLE incident_checklist (
	incident_id INTEGER NOT NULL,
	step_id VARCHAR(100) NOT NULL,
	done_by VARCHAR(64) NOT NULL,
	done_at FLOAT NOT NULL,
	PRIMARY KEY (incident_id, step_id),
	FOREIGN KEY(incident_id) REFERENCES incidents (id) ON DELETE CASCADE
);

CREATE TABLE depth_samples (
	id SERIAL NOT NULL,
	kind VARCHAR(16) NOT NULL,
	cluster VARCHAR(100) NOT NULL,
	name VARCHAR(255) NOT NULL,
	taken_at FLOAT NOT NULL,
	data JSON NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_depth_samples_lookup ON depth_samples (kind, cluster, name, taken_at);

CREATE TABLE restore_points (
	id VARCHAR(16) NOT NULL,
	cluster VARCHAR(100) NOT NULL,
	group_id VARCHAR(255) NOT NULL,
	created_at FLOAT NOT NULL,
	created_by VARCHAR(100) NOT NULL,
	incident_id VARCHAR(100),
	reason VARCHAR(255) NOT NULL,
	offsets TEXT NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_restore_points_group ON restore_points (cluster, group_id, created_at);

CREATE TABLE replays (
	id VARCHAR(16) NOT NULL,
	cluster VARCHAR(100) NOT NULL,
	broker VARCHAR(20) NOT NULL,
	dlq VARCHAR(255) NOT NULL,
	plan_hash VARCHAR(64) NOT NULL,
	plan TEXT NOT NULL,
	state VARCHAR(20) NOT NULL,
	planned INTEGER NOT NULL,
	moved INTEGER NOT NULL,
	progress TEXT NOT NULL,
	message TEXT,
	owner VARCHAR(255),
	heartbeat_at FLOAT,
	created_at FLOAT NOT NULL,
	updated_at FLOAT NOT NULL,
	created_by VARCHAR(100) NOT NULL,
	incident_id VARCHAR(100),
	PRIMARY KEY (id)
);

CREATE INDEX ix_replays_state ON replays (state);

CREATE INDEX ix_replays_plan_hash ON replays (plan_hash);

CREATE TABLE escalation_steps (
	id SERIAL NOT NULL,
	incident_id INTEGER NOT NULL,
	minute FLOAT NOT NULL,
	kind VARCHAR(32) NOT NULL,
	due_at FLOAT NOT NULL,
	status VARCHAR(16) NOT NULL,
	claimed_at FLOAT,
	claimed_by VARCHAR(64),
	scheduled INTEGER NOT NULL,
	fired_at FLOAT,
	late_by FLOAT,
	attempts INTEGER NOT NULL,
	last_error TEXT,
	PRIMARY KEY (id),
	CONSTRAINT uq_escalation_step UNIQUE (incident_id, minute),
	FOREIGN KEY(incident_id) REFERENCES incidents (id) ON DELETE CASCADE
);

CREATE TABLE leases (
	name VARCHAR(64) NOT NULL,
	owner VARCHAR(64) NOT NULL,
	expires_at FLOAT NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE approval_requests (
	id VARCHAR(16) NOT NULL,
	incident_id INTEGER,
	kind VARCHAR(32) NOT NULL,
	cluster VARCHAR(100) NOT NULL,
	target VARCHAR(255) NOT NULL,
	plan JSON NOT NULL,
	plan_hash VARCHAR(32) NOT NULL,
	requester VARCHAR(64) NOT NULL,
	requested_at FLOAT NOT NULL,
	expires_at FLOAT NOT NULL,
	state VARCHAR(16) NOT NULL,
	decided_by VARCHAR(64),
	decided_at FLOAT,
	reason TEXT,
	channel VARCHAR(64),
	card_ts VARCHAR(32),
	thread_ts VARCHAR(32),
	result JSON,
	verification JSON,
	PRIMARY KEY (id)
);

CREATE TABLE approval_audit (
	id SERIAL NOT NULL,
	request_id VARCHAR(16) NOT NULL,
	at FLOAT NOT NULL,
	actor VARCHAR(64) NOT NULL,
	transition VARCHAR(16) NOT NULL,
	plan_hash VARCHAR(32) NOT NULL,
	detail TEXT,
	PRIMARY KEY (id)
);

CREATE INDEX ix_approval_audit_request_id ON approval_audit (request_id);

INSERT INTO schema_version (version) VALUES (6);
