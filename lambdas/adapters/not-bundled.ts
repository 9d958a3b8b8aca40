// Stands in for a driver package left out of a Lambda bundle (lib/eventflow-function.ts aliases the
// stack's unused drivers here). Importing it is harmless; using it throws and says why.
function missing(): never {
  throw new Error(
    'this driver is not in this Lambda bundle: SQL_DRIVER / STREAM_DRIVER must match the stack (the Lambdas use the Data API, and Upstash or ElastiCache per redisBackend)',
  );
}

/** ioredis / @upstash/redis client class. */
export class Redis {
  constructor() {
    missing();
  }
}

/** ioredis's Command class (only reached once a client exists, which it cannot). */
export class Command {
  constructor() {
    missing();
  }
}

/** @upstash/redis error classes (only reached once a client exists, which it cannot). */
export const errors = {};

/** pg's default export. */
export default {
  Pool: Redis,
  types: { getTypeParser: missing },
};
