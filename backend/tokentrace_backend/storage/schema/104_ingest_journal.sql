-- Migration 104: how far into the ingest journal (storage/journal.py) the spans table
-- holds. The writer updates it in the transaction of every commit of journaled spans; at
-- start it replays the journal's records after this position.
CREATE TABLE ingest_journal (position UBIGINT NOT NULL);
INSERT INTO ingest_journal VALUES (0);
