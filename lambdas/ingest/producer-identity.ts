// Who sent a request: API Gateway's API key id when it checked a key, else (locally) the PRODUCER_KEYS
// name of the x-api-key header. Keys are compared in constant time; a key itself is never returned or logged.

import type { APIGatewayProxyEvent } from 'aws-lambda';
import { normalizeHeaders } from './http.ts';
import { sameDigest, secretDigest } from './secret-digest.ts';

/**
 * `producer`: the request's producer (an API key id, or a PRODUCER_KEYS name). `anonymous`: no identity
 * at all (no key id and no key map): everything is one producer, as before producers existed.
 * `unknownKey`: a key map is configured and the request's x-api-key is missing or not in it.
 */
export type ProducerIdentity =
  | { readonly kind: 'producer'; readonly producer: string }
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'unknownKey' };

/**
 * Builds the identification for an app. `keys` is PRODUCER_KEYS (name → key), for the local server,
 * where no API Gateway checks keys; the deployed API leaves it unset and reads the key id.
 */
export function producerIdentity(keys?: ReadonlyMap<string, string>): (event: APIGatewayProxyEvent) => ProducerIdentity {
  const digests = [...(keys ?? new Map<string, string>())].map(([name, key]) => ({ name, digest: secretDigest(key) }));
  return function identifyProducer(event) {
    // Only API Gateway fills it, after validating the key against a usage plan (apiKeyRequired routes).
    const apiKeyId = event.requestContext?.identity?.apiKeyId;
    if (apiKeyId) return { kind: 'producer', producer: apiKeyId };
    if (digests.length === 0) return { kind: 'anonymous' };
    const given = normalizeHeaders(event.headers)['x-api-key'];
    if (given === undefined) return { kind: 'unknownKey' };
    const givenDigest = secretDigest(given);
    // Every key is compared, match or not, so the time taken does not say which one matched.
    let match: string | undefined;
    for (const entry of digests) {
      if (sameDigest(givenDigest, entry.digest) && match === undefined) match = entry.name;
    }
    return match === undefined ? { kind: 'unknownKey' } : { kind: 'producer', producer: match };
  };
}
