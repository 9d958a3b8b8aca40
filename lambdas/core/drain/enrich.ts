// The consumer's enrichment (SEED-SPEC): what a processed event gains. Pure; call only on events
// that passed the rules in validate.ts.
import type { AcceptedEvent } from '../../../schemas/event.ts';

export interface Enrichment {
  readonly processed_by: string;
  readonly processing_timestamp: string;
  readonly category?: 'high_value' | 'standard';
  readonly session_start?: string;
}

export function enrich(event: AcceptedEvent, context: { readonly workerId: string; readonly now: Date }): Enrichment {
  const base = { processed_by: context.workerId, processing_timestamp: context.now.toISOString() };
  if (event.event_type === 'purchase') {
    return { ...base, category: (event.properties.amount as number) > 1000 ? 'high_value' : 'standard' };
  }
  if (event.event_type === 'page_view') return { ...base, session_start: event.timestamp };
  return base;
}
