CREATE TABLE "stock_level_shards" (
	"sku" text NOT NULL,
	"warehouse_id" text NOT NULL,
	"shard" integer NOT NULL,
	"on_hand" integer NOT NULL,
	"reserved" integer NOT NULL,
	"version" bigint NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "stock_level_shards_sku_warehouse_id_shard_pk" PRIMARY KEY("sku","warehouse_id","shard"),
	CONSTRAINT "stock_level_shards_reserved_ck" CHECK ("stock_level_shards"."reserved" >= 0)
);
--> statement-breakpoint
ALTER TABLE "stock_levels" ADD COLUMN "version" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "stock_level_shards" ADD CONSTRAINT "stock_level_shards_warehouse_id_warehouses_id_fk" FOREIGN KEY ("warehouse_id") REFERENCES "public"."warehouses"("id") ON DELETE restrict ON UPDATE no action;