// The consumer's business rules (SEED-SPEC): what makes an accepted event one we will not process.
// A violation is the producer's data, so it is permanent: dead-lettered at once, never retried.
import type { AcceptedEvent, Issue } from '../../../schemas/event.ts';

export interface RuleOptions {
  readonly now: Date;
  /** How far in the future a timestamp may be (clock skew between producers and us). */
  readonly futureSkewMs: number;
}

export function ruleViolations(event: AcceptedEvent, options: RuleOptions): Issue[] {
  const issues: Issue[] = [];
  if (event.event_type === 'purchase') {
    const amount = event.properties.amount;
    if (amount === undefined || amount === null) {
      issues.push({ path: 'properties.amount', message: 'is required for purchase events' });
    } else if (typeof amount !== 'number' || !Number.isFinite(amount)) {
      issues.push({ path: 'properties.amount', message: 'must be a number' });
    } else if (amount <= 0) {
      issues.push({ path: 'properties.amount', message: 'must be greater than 0' });
    }
  }
  if (event.event_type === 'user_signup' && !event.user_id) {
    issues.push({ path: 'user_id', message: 'is required for user_signup events' });
  }
  const latest = options.now.getTime() + options.futureSkewMs;
  if (Date.parse(event.timestamp) > latest) {
    issues.push({
      path: 'timestamp',
      message: `is more than ${Math.round(options.futureSkewMs / 1000)} s in the future`,
    });
  }
  return issues;
}
