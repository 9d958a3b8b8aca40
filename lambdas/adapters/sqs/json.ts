// JSON text every SQS endpoint takes as a message body. Pure: same JSON value, only escaped further.

/**
 * JSON for a message body that every SQS endpoint takes. SQS refuses U+FFFE/U+FFFF, which
 * JSON.stringify leaves raw; fauxqs 1.9.2 (the local endpoint) also refuses characters beyond U+FFFF
 * (emoji), which AWS accepts. Escaped as \uXXXX the text is the same JSON value, only longer.
 */
export const toSqsJson = (value: unknown): string => toSqsText(JSON.stringify(value));

/** The same escape for JSON text already serialized (those characters can only sit inside its strings). */
export const toSqsText = (json: string): string =>
  json.replace(/[\uD800-\uDFFF\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
