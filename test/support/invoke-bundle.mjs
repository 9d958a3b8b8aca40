// Runs one synthesized Lambda bundle the way the Lambda runtime does: import the module (cold start),
// call its handler once with the event from argv, print the result as JSON. Plain JS: no TS loader.
const [bundle, eventJson, timeoutMs = '30000'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutMs);
const context = {
  functionName: 'bundle-under-test',
  awsRequestId: 'invoke-bundle',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
try {
  const { handler } = await import(bundle);
  const result = await handler(JSON.parse(eventJson), context);
  // Exit only once the result is written: stdout to a pipe is asynchronous, and exiting earlier cuts
  // off a large result (a served Swagger UI asset) after the pipe's buffer.
  process.stdout.write(`\nRESULT ${JSON.stringify(result ?? null)}\n`, () => process.exit(0));
} catch (error) {
  process.stdout.write(`\nFAILED ${error?.stack ?? error}\n`);
  process.exit(1);
}
