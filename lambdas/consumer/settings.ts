// Maps the validated config onto the drain loop's settings; shared by the Lambda and the local runner.
// No I/O, and no setting of its own: each one is defined once, in config.ts.
import type { Config } from '../config/config.ts';
import type { DrainSettings } from '../core/drain/delivery.ts';

/**
 * The drain loop's settings as the config defines them (types inferred from config.ts's schema).
 * core's `DrainSettings` can be written as `DrainConfig & { readonly consumer: string }`.
 */
export type DrainConfig = Omit<Config['consumer'], 'name' | 'timeMarginMs'>;

export function drainSettings(config: Config, consumer: string, overrides: Partial<DrainSettings> = {}): DrainSettings {
  // `name` becomes `consumer` (resolved by deps.consumerName); the time margin belongs to the handler's budget.
  const { name: _name, timeMarginMs: _timeMarginMs, ...drain } = config.consumer;
  return { consumer, ...drain, ...overrides };
}
