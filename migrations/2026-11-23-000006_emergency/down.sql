DROP INDEX audit_events_emergency;
