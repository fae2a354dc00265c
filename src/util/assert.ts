/** Exhaustiveness check for switches over tagged unions. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}

/** A broken invariant: the member must stop rather than continue with corrupt state. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
