// What one `npm start` server under test runs on: its own empty database and stream key on the local services,
// the environment that points the server at them on a free port, and their removal afterwards.

import { freePort } from './child-processes.ts';
import { createTestDatabase, deleteStreamKeys, TEST_REDIS_URL, type TestDatabase, uniqueName } from './services.ts';

export interface ServerStorage {
  readonly db: TestDatabase;
  readonly streamKey: string;
  /** `driverEnv`, then PORT, DATABASE_URL, REDIS_URL, STREAM_KEY and a 1 s BLOCK_MS so Ctrl-C stops it soon. */
  readonly env: Record<string, string>;
  /** Deletes the stream key and drops the database. */
  drop(): Promise<void>;
}

/** Creates the database (unmigrated: the server migrates it on start) and picks the stream key and port. */
export async function createServerStorage(driverEnv: Readonly<Record<string, string>> = {}): Promise<ServerStorage> {
  const db = await createTestDatabase({ migrate: false });
  const streamKey = uniqueName('events');
  const port = await freePort();
  return {
    db,
    streamKey,
    env: {
      ...driverEnv,
      PORT: String(port),
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      STREAM_KEY: streamKey,
      BLOCK_MS: '1000',
    },
    async drop() {
      await deleteStreamKeys(streamKey);
      await db.drop();
    },
  };
}
