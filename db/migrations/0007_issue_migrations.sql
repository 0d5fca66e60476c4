CREATE TABLE "issue_migrations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type_key" text NOT NULL,
	"from_version" integer NOT NULL,
	"to_version" integer NOT NULL,
	"state_mapping" jsonb NOT NULL,
	"filter" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"matched" integer DEFAULT 0 NOT NULL,
	"migrated" integer DEFAULT 0 NOT NULL,
	"skipped_count" integer DEFAULT 0 NOT NULL,
	"skipped" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"last_issue_id" uuid,
	"batch" jsonb,
	"started_by" uuid NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "issue_migrations_type_idx" ON "issue_migrations" USING btree ("type_key","started_at","id");