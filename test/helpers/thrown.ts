/** The error `f` throws, for checking its class and message together; fails when `f` does not throw. */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}
