ALTER TYPE "public"."email_delivery_status" ADD VALUE 'pending';--> statement-breakpoint
ALTER TABLE "issue_transitions" ADD COLUMN "outcome" jsonb;--> statement-breakpoint
ALTER TABLE "issue_types" ADD COLUMN "input" jsonb;--> statement-breakpoint
ALTER TABLE "issues" ADD COLUMN "value" jsonb;