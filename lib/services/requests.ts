// Service requests are issues of the `service_request` type (lib/services/issue-type.ts).
import { eq } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { issues } from '../../db/schema/issues.js';
import { serviceRequestType } from './issue-type.js';

/** Whether the issue is a service request. */
export async function isServiceRequest(db: Tx, issueId: string): Promise<boolean> {
  const [row] = await db.select({ typeKey: issues.typeKey }).from(issues).where(eq(issues.id, issueId));
  return row?.typeKey === serviceRequestType.key;
}
