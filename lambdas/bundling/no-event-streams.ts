// Replaces @smithy/core/event-streams in the Lambda bundles (an esbuild alias, lib/eventflow-function.ts): the SDK
// protocols import it lazily, only for operations that stream events, and the Data API, SQS and Secrets Manager
// operations the Lambdas call have none. Using it throws and says why.
function missing(): never {
  throw new Error('@smithy/core/event-streams is not in this Lambda bundle: no operation EventFlow calls streams events');
}

export class EventStreamSerde {
  constructor() {
    missing();
  }
}

export const eventStreamSerdeProvider = (): never => missing();
