-- Resources first seen in this batch (the writer skips ids it already knows).
INSERT OR IGNORE INTO resources BY NAME
SELECT * FROM incoming_resources
