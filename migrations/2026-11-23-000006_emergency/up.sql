-- Emergency access ("break the glass"): the team lead's review list walks
-- the emergency events of one municipality newest first. They are a tiny
-- share of the trail, so a partial index keeps the list cheap however long
-- the trail grows.
CREATE INDEX audit_events_emergency ON audit_events (municipality_code, seq DESC)
    WHERE emergency_access;
COMMENT ON INDEX audit_events_emergency IS 'Emergency accesses per municipality, newest first: the review list of GET /v1/audit/emergency-accesses.';
