import { ApplicationFailure } from '@temporalio/common';
import { LedgerEntryRefused, recordLedgerEntry, type LedgerEntryInput, type LedgerEntryJson } from '../db/ledger.js';
import type { ActivityDeps } from './deps.js';

/** Entry kinds the issue engine writes; payouts come only from the billing-day close. */
export type RecordLedgerEntryInput = LedgerEntryInput & { kind: Exclude<LedgerEntryInput['kind'], 'payout'> };

export function createBillingActivities({ config, database: { db } }: ActivityDeps) {
  return {
    /** Appends one ledger entry and moves the account balance, exactly once per `key`. Returns the entry (the existing one on a retry). */
    async recordLedgerEntry(input: RecordLedgerEntryInput): Promise<LedgerEntryJson> {
      if ((input.kind as string) === 'payout') {
        throw ApplicationFailure.create({
          type: 'Billing.InvalidEntry',
          message: `ledger entry ${JSON.stringify(input.key)}: payouts are written only by the billing-day close`,
          nonRetryable: true,
        });
      }
      try {
        return await recordLedgerEntry(db, config.billing.timeZone, input);
      } catch (error) {
        // Retrying a refused entry can only fail again: let the workflow see it at once.
        if (error instanceof LedgerEntryRefused) {
          throw ApplicationFailure.create({ type: error.type, message: error.message, nonRetryable: true });
        }
        throw error;
      }
    },
  };
}
