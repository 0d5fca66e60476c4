CREATE TYPE "public"."worker_application_status" AS ENUM('pending', 'approved', 'rejected');--> statement-breakpoint
CREATE TYPE "public"."inventory_status" AS ENUM('created', 'started', 'closed');--> statement-breakpoint
CREATE TABLE "service_reviews" (
	"request_id" uuid PRIMARY KEY NOT NULL,
	"service_id" uuid NOT NULL,
	"worker_id" uuid NOT NULL,
	"client_id" uuid NOT NULL,
	"rating" integer NOT NULL,
	"comment" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "service_reviews_rating_range" CHECK ("service_reviews"."rating" between 1 and 5)
);
--> statement-breakpoint
CREATE TABLE "services" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"price_cents" integer NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "services_name_unique" UNIQUE("name"),
	CONSTRAINT "services_price_positive" CHECK ("services"."price_cents" > 0)
);
--> statement-breakpoint
CREATE TABLE "worker_application_services" (
	"application_id" uuid NOT NULL,
	"service_id" uuid NOT NULL,
	CONSTRAINT "worker_application_services_application_id_service_id_pk" PRIMARY KEY("application_id","service_id")
);
--> statement-breakpoint
CREATE TABLE "worker_applications" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"worker_id" uuid NOT NULL,
	"note" text DEFAULT '' NOT NULL,
	"status" "worker_application_status" DEFAULT 'pending' NOT NULL,
	"rejection_reason" text,
	"decided_by" uuid,
	"decided_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "worker_qualifications" (
	"service_id" uuid NOT NULL,
	"worker_id" uuid NOT NULL,
	"application_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "worker_qualifications_service_id_worker_id_pk" PRIMARY KEY("service_id","worker_id")
);
--> statement-breakpoint
CREATE TABLE "worker_ratings" (
	"worker_id" uuid PRIMARY KEY NOT NULL,
	"reviews" integer DEFAULT 0 NOT NULL,
	"rating_sum" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inventories" (
	"id" uuid PRIMARY KEY NOT NULL,
	"issue_id" uuid NOT NULL,
	"location" text NOT NULL,
	"status" "inventory_status" DEFAULT 'created' NOT NULL,
	"note" text DEFAULT '' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inventories_issue_id_unique" UNIQUE("issue_id")
);
--> statement-breakpoint
CREATE TABLE "inventory_lines" (
	"inventory_id" uuid NOT NULL,
	"sku" text NOT NULL,
	"position" integer NOT NULL,
	"name" text NOT NULL,
	"expected_quantity" integer NOT NULL,
	"counted_quantity" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inventory_lines_inventory_id_sku_pk" PRIMARY KEY("inventory_id","sku"),
	CONSTRAINT "inventory_lines_quantities_nonnegative" CHECK ("inventory_lines"."expected_quantity" >= 0 and ("inventory_lines"."counted_quantity" is null or "inventory_lines"."counted_quantity" >= 0))
);
--> statement-breakpoint
DROP INDEX "ledger_entries_billing_date_kind_idx";--> statement-breakpoint
ALTER TABLE "billing_days" ADD COLUMN "service_charges_cents" bigint;--> statement-breakpoint
ALTER TABLE "billing_days" ADD COLUMN "service_credits_cents" bigint;--> statement-breakpoint
ALTER TABLE "billing_days" ADD COLUMN "entries" integer;--> statement-breakpoint
ALTER TABLE "worker_application_services" ADD CONSTRAINT "worker_application_services_application_id_worker_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."worker_applications"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "worker_application_services" ADD CONSTRAINT "worker_application_services_service_id_services_id_fk" FOREIGN KEY ("service_id") REFERENCES "public"."services"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "worker_qualifications" ADD CONSTRAINT "worker_qualifications_service_id_services_id_fk" FOREIGN KEY ("service_id") REFERENCES "public"."services"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "worker_qualifications" ADD CONSTRAINT "worker_qualifications_application_id_worker_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."worker_applications"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inventory_lines" ADD CONSTRAINT "inventory_lines_inventory_id_inventories_id_fk" FOREIGN KEY ("inventory_id") REFERENCES "public"."inventories"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "service_reviews_worker_idx" ON "service_reviews" USING btree ("worker_id","created_at");--> statement-breakpoint
CREATE INDEX "worker_applications_worker_idx" ON "worker_applications" USING btree ("worker_id","created_at");--> statement-breakpoint
CREATE INDEX "worker_applications_status_idx" ON "worker_applications" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "worker_qualifications_worker_idx" ON "worker_qualifications" USING btree ("worker_id");--> statement-breakpoint
CREATE INDEX "ledger_entries_day_top_reward_idx" ON "ledger_entries" USING btree ("billing_date","amount_cents" DESC NULLS FIRST,"created_at","id") WHERE "ledger_entries"."kind" = 'reward';--> statement-breakpoint
CREATE INDEX "ledger_entries_billing_date_kind_idx" ON "ledger_entries" USING btree ("billing_date","kind","amount_cents");