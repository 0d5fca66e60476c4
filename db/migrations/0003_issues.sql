CREATE TABLE "issue_transitions" (
	"issue_id" uuid NOT NULL,
	"step" integer NOT NULL,
	"from_state" text,
	"event" text NOT NULL,
	"to_state" text NOT NULL,
	"actor_id" text NOT NULL,
	"actor_role" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "issue_transitions_issue_id_step_pk" PRIMARY KEY("issue_id","step")
);
--> statement-breakpoint
CREATE TABLE "issue_types" (
	"key" text NOT NULL,
	"version" integer NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"definition" jsonb NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "issue_types_key_version_pk" PRIMARY KEY("key","version")
);
--> statement-breakpoint
CREATE TABLE "issues" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type_key" text NOT NULL,
	"type_version" integer NOT NULL,
	"title" text NOT NULL,
	"state" text NOT NULL,
	"status" text NOT NULL,
	"context" jsonb NOT NULL,
	"assignee_id" uuid,
	"creator_id" uuid NOT NULL,
	"step" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "topic_subscriptions" (
	"topic" text NOT NULL,
	"issue_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "topic_subscriptions_topic_issue_id_pk" PRIMARY KEY("topic","issue_id")
);
--> statement-breakpoint
CREATE INDEX "issues_type_state_idx" ON "issues" USING btree ("type_key","state","id");--> statement-breakpoint
CREATE INDEX "issues_assignee_idx" ON "issues" USING btree ("assignee_id","id");--> statement-breakpoint
CREATE INDEX "issues_active_type_idx" ON "issues" USING btree ("type_key","id") WHERE "issues"."status" = 'active';