CREATE TABLE "dead_letters" (
	"id" text PRIMARY KEY NOT NULL,
	"queue" text NOT NULL,
	"event_id" text NOT NULL,
	"type" text,
	"body" jsonb,
	"error" text NOT NULL,
	"attempts" integer NOT NULL,
	"first_failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"redriven_at" timestamp with time zone,
	CONSTRAINT "dead_letters_status_ck" CHECK ("dead_letters"."status" in ('open', 'redriven', 'discarded'))
);
--> statement-breakpoint
CREATE TABLE "processed_events" (
	"consumer" text NOT NULL,
	"event_id" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_events_consumer_event_id_pk" PRIMARY KEY("consumer","event_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "dead_letters_queue_event_uq" ON "dead_letters" USING btree ("queue","event_id");--> statement-breakpoint
CREATE INDEX "dead_letters_status_idx" ON "dead_letters" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "dead_letters_type_idx" ON "dead_letters" USING btree ("type","id");--> statement-breakpoint
CREATE INDEX "processed_events_time_idx" ON "processed_events" USING btree ("processed_at");