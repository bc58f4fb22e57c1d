CREATE TABLE "payment_webhook_events" (
	"id" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"event_id" text NOT NULL,
	"provider_type" text NOT NULL,
	"type" text NOT NULL,
	"attempt_id" text,
	"order_id" text,
	"provider_ref" text NOT NULL,
	"event" jsonb NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"delivery_attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	CONSTRAINT "payment_webhook_events_provider_ck" CHECK ("payment_webhook_events"."provider" in ('stripe', 'razorpay'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "payment_webhook_events_provider_event_uq" ON "payment_webhook_events" USING btree ("provider","event_id");--> statement-breakpoint
CREATE INDEX "payment_webhook_events_undelivered_idx" ON "payment_webhook_events" USING btree ("received_at") WHERE "payment_webhook_events"."delivered_at" is null;--> statement-breakpoint
CREATE INDEX "payment_webhook_events_attempt_idx" ON "payment_webhook_events" USING btree ("attempt_id");--> statement-breakpoint
CREATE INDEX "payment_webhook_events_ref_idx" ON "payment_webhook_events" USING btree ("provider","provider_ref");