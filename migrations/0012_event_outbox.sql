CREATE TABLE "event_outbox" (
	"event_id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"envelope" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"sent_at" timestamp with time zone,
	CONSTRAINT "event_outbox_attempts_ck" CHECK ("event_outbox"."attempts" >= 0)
);
--> statement-breakpoint
CREATE INDEX "event_outbox_due_idx" ON "event_outbox" USING btree ("next_attempt_at") WHERE "event_outbox"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "event_outbox_sent_idx" ON "event_outbox" USING btree ("sent_at") WHERE "event_outbox"."sent_at" is not null;