-- Typo-tolerant search: trigram similarity (pg_trgm) and edit distance (fuzzystrmatch).
-- Both ship with PostgreSQL's contrib, with Neon and with PGlite.
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;
