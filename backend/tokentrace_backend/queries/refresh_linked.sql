-- Materialise the linked spans of the selected traces for the refresh statements below.
SELECT * FROM linked_spans
