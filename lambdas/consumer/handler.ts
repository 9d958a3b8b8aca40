// Placeholder until the handler lands in this same session; replaced, not shipped.
export const handler = async (): Promise<never> => {
  throw new Error('handler not implemented yet');
};
