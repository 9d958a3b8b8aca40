// Replaces @aws-sdk/credential-provider-node in the Lambda bundles (an esbuild alias, lib/eventflow-function.ts):
// Lambda always puts the execution role's credentials in AWS_ACCESS_KEY_ID / _SECRET_ / _SESSION_TOKEN, so the
// SSO, INI, process, IMDS and web-identity providers of the default chain (and the STS/SSO clients they pull in)
// are never reached there. Must never be imported by code that runs outside a Lambda bundle.

interface EnvCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Like the SDK's `fromEnv()`: read at each call, so a refreshed environment is picked up; fails naming the variable. */
async function fromEnv(): Promise<EnvCredentials> {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: the Lambda runtime always sets them');
  }
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  const expiration = process.env.AWS_CREDENTIAL_EXPIRATION;
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken ? { sessionToken } : {}),
    ...(expiration ? { expiration: new Date(expiration) } : {}),
  };
}

/** The SDK clients call `defaultProvider(init)` for their credential provider; env is the only source in Lambda. */
export const defaultProvider = (_init?: unknown) => fromEnv;
