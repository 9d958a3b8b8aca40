// What a route of the ingest API is: a function of the request (with its producer) and the app's
// dependencies, answering an API Gateway proxy result. Types only.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Backpressure } from '../core/backpressure.ts';
import type { IngestDeps } from '../core/ingest.ts';
import type { IngestBatcher } from '../core/ingest-batcher.ts';
import type { Logger } from '../ports.ts';

export interface IngestAppDeps extends IngestDeps {
  readonly logger: Logger;
  /** When set, admin routes accept `x-admin-token: <token>`; IAM-signed requests are accepted anyway. */
  readonly adminToken?: string;
  /** When set, ingest answers 429 while the consumer group is too far behind. */
  readonly backpressure?: Backpressure;
  /**
   * PRODUCER_KEYS (name → key), for the local server: keyed routes then need a listed x-api-key, whose
   * name is the producer. The deployed API leaves it unset: API Gateway checks keys and names the key id.
   */
  readonly producerKeys?: ReadonlyMap<string, string>;
  /** When set (the long-lived local server), single events are written in groups (core/ingest-batcher.ts). */
  readonly groupCommit?: IngestBatcher;
}

export type Route = (request: RouteRequest, deps: IngestAppDeps) => Promise<APIGatewayProxyResult>;
export interface RouteRequest {
  readonly event: APIGatewayProxyEvent;
  readonly headers: Record<string, string>;
  readonly params: Record<string, string>;
  /** Who sent it (API key id, or PRODUCER_KEYS name); null without a producer identity. */
  readonly producer: string | null;
}
