-- Search ignores accents (docs/search.md "Accents"): the indexed text has them stripped as the query
-- and the dictionary already do (NFKD, then U+0300–U+036F removed), with core functions only. A
-- generated column's expression cannot be altered on PostgreSQL 15: it is dropped and added again,
-- which recomputes it for every row, and its GIN index (dropped with the column) is created again.
ALTER TABLE "products" drop column "search_vector";--> statement-breakpoint
ALTER TABLE "products" ADD COLUMN "search_vector" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, regexp_replace(normalize(coalesce(name, ''), NFKD), '[\u0300-\u036f]', '', 'g')), 'A') || setweight(to_tsvector('english'::regconfig, regexp_replace(normalize(coalesce(search_keywords, ''), NFKD), '[\u0300-\u036f]', '', 'g')), 'B') || setweight(to_tsvector('english'::regconfig, regexp_replace(normalize(coalesce(description, ''), NFKD), '[\u0300-\u036f]', '', 'g')), 'D')) STORED NOT NULL;--> statement-breakpoint
CREATE INDEX "products_search_idx" ON "products" USING gin ("search_vector");--> statement-breakpoint
-- The typo dictionary holds active products' words only: a save drops the words it took away that no
-- other active product's folded name and keywords still contain, looked up through this index.
CREATE INDEX "products_terms_trgm_idx" ON "products" USING gin ((lower(regexp_replace(normalize(name || ' ' || search_keywords, NFKD), '[\u0300-\u036f]', '', 'g'))) gin_trgm_ops) WHERE status = 'active';--> statement-breakpoint
-- Words left behind by products archived or renamed before this migration.
DELETE FROM "catalog_search_terms" t
 WHERE NOT EXISTS (
   SELECT 1 FROM "products" p
    WHERE p.status = 'active'
      AND lower(regexp_replace(normalize(p.name || ' ' || p.search_keywords, NFKD), '[\u0300-\u036f]', '', 'g')) LIKE '%' || t.term || '%');--> statement-breakpoint
-- A variant priced 0 is not for sale: the listed price range is over the variants priced above 0
-- (products whose variants are all priced 0 keep 0).
UPDATE "products" p
   SET price_min = s.price_min, price_max = s.price_max
  FROM (SELECT product_id, min(price) AS price_min, max(price) AS price_max
          FROM "product_variants" WHERE price > 0 GROUP BY product_id) s
 WHERE s.product_id = p.id AND (p.price_min, p.price_max) IS DISTINCT FROM (s.price_min, s.price_max);
