// Maps the validated config onto the drain loop's settings; shared by the Lambda and the local runner.
// No I/O.
import type { Config } from '../config.ts';
import type { DrainSettings } from '../core/drain/delivery.ts';

export function drainSettings(config: Config, consumer: string, overrides: Partial<DrainSettings> = {}): DrainSettings {
  return {
    consumer,
    mode: config.consumer.mode,
    batchSize: config.consumer.batchSize,
    blockMs: config.consumer.blockMs,
    maxAttempts: config.consumer.maxAttempts,
    retryBaseMs: config.consumer.retryBaseMs,
    futureSkewMs: config.rules.futureSkewMs,
    reconcileGraceMs: config.consumer.reconcileGraceMs,
    reconcileIdleIntervalMs: config.consumer.reconcileIdleIntervalMs,
    maintenanceIntervalMs: config.consumer.maintenanceIntervalMs,
    ...overrides,
  };
}
