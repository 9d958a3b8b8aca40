// Replaces @aws-sdk/client-secrets-manager in the Lambda bundles (an esbuild alias, lib/eventflow-function.ts): in
// Lambda the Upstash secret is read through the Parameters and Secrets extension. Using it throws and says why.
function missing(): never {
  throw new Error(
    '@aws-sdk/client-secrets-manager is not in this Lambda bundle: the secret is read through the Parameters and Secrets extension (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT must be set, as the CDK stack does)',
  );
}

export class SecretsManagerClient {
  constructor() {
    missing();
  }
}

export class GetSecretValueCommand {
  constructor() {
    missing();
  }
}
