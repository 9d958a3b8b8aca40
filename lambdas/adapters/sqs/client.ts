// The SQS client both queues share: one per container, with timeouts so a black-holed endpoint fails.
// Builds the client only; what a call may take is decided per call (lambdas/adapters/deadline.ts).
import { SQSClient } from '@aws-sdk/client-sqs';
import { MAX_WAIT_SECONDS } from './limits.ts';

export interface SqsClientOptions {
  /** Set for a local endpoint; the SDK then sends every call there and treats queue URLs as ids. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Static credentials (local endpoints accept anything); omit to use the SDK's default chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** SDK attempts per call, first one included (SDK default 3). */
  readonly maxAttempts?: number;
  readonly connectionTimeoutMs?: number;
  /** Socket idle timeout; must stay above the longest long poll (20 s) or receives would time out. */
  readonly requestTimeoutMs?: number;
}

/** One client per container: it keeps the connection pool and the resolved credentials warm. */
export function createSqsClient(options: SqsClientOptions = {}): SQSClient {
  return new SQSClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    // Without timeouts a black-holed endpoint holds the Lambda until its own timeout.
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? (MAX_WAIT_SECONDS + 5) * 1_000,
    },
  });
}
