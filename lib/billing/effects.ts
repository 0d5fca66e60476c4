// The billing context's money effects an issue step runs inside its own transaction (activities/issue-step.ts):
// each writes one ledger entry (lib/billing/ledger.ts) whose account, amount and direction the catalog's
// `moneyEffects` table names.
import { ApplicationFailure } from '@temporalio/common';
import type { Transaction } from '../../db/client.js';
import { moneyEffects, type EffectInput, type MoneyEffectName } from '../../workflows/statechart/catalog.js';
import { appendLedgerEntry, chooseBillingDay, LedgerEntryRefused, type LedgerEntryInput } from './ledger.js';

/** A context field that must hold what a ledger entry needs; anything else is a broken issue no retry can fix. */
function contextField<T>(input: EffectInput, field: string, valid: (value: unknown) => value is T, expected: string): T {
  const value = input.context[field];
  if (valid(value)) return value;
  throw ApplicationFailure.create({
    type: 'Issue.BadContext',
    message: `issue ${input.issueId}: context.${field} must be ${expected}, got ${JSON.stringify(value)}`,
    nonRetryable: true,
  });
}
const isString = (value: unknown): value is string => typeof value === 'string';
const isCents = (value: unknown): value is number => Number.isSafeInteger(value);

/**
 * Writes a money effect's ledger entry inside the caller's transaction (an issue step), once per effect key.
 * A zero amount (e.g. a 100% commission leaves nothing to credit) writes nothing: the ledger holds no zero entries.
 */
export async function recordLedgerEffect(tx: Transaction, name: MoneyEffectName, input: EffectInput, timeZone: string): Promise<void> {
  const effect = moneyEffects[name];
  const amountCents = effect.sign * contextField(input, effect.amountField, isCents, 'integer cents');
  if (amountCents === 0) return;
  const entry: LedgerEntryInput = {
    key: input.key,
    userId: contextField(input, effect.userField, isString, 'a user id'),
    kind: effect.kind,
    amountCents,
    issueId: input.issueId,
    description: `${effect.label}: ${String(input.context[effect.nameField] ?? input.issueId)}`,
  };
  try {
    await appendLedgerEntry(tx, entry, await chooseBillingDay(tx, timeZone));
  } catch (error) {
    // Retrying a refused entry can only fail again: the step fails at once, visibly.
    if (error instanceof LedgerEntryRefused) throw ApplicationFailure.create({ type: error.type, message: error.message, nonRetryable: true });
    throw error;
  }
}
