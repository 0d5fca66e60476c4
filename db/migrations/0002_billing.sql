CREATE TYPE "public"."billing_day_status" AS ENUM('open', 'closing', 'closed');--> statement-breakpoint
CREATE TYPE "public"."ledger_entry_kind" AS ENUM('assign_fee', 'reward', 'service_charge', 'service_credit', 'adjustment', 'payout');--> statement-breakpoint
CREATE TABLE "accounts" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"balance_cents" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "billing_days" (
	"date" date PRIMARY KEY NOT NULL,
	"status" "billing_day_status" DEFAULT 'open' NOT NULL,
	"cutoff_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"fees_cents" bigint,
	"rewards_cents" bigint,
	"payouts_cents" bigint,
	"workers_in_negative" integer,
	"earnings_cents" bigint
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"user_id" uuid NOT NULL,
	"kind" "ledger_entry_kind" NOT NULL,
	"amount_cents" bigint NOT NULL,
	"issue_id" uuid,
	"description" text NOT NULL,
	"billing_date" date NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_entries_key_unique" UNIQUE("key"),
	CONSTRAINT "ledger_entries_amount_nonzero" CHECK ("ledger_entries"."amount_cents" <> 0)
);
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_user_id_accounts_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."accounts"("user_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_billing_date_billing_days_date_fk" FOREIGN KEY ("billing_date") REFERENCES "public"."billing_days"("date") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ledger_entries_user_id_idx" ON "ledger_entries" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "ledger_entries_billing_date_kind_idx" ON "ledger_entries" USING btree ("billing_date","kind");