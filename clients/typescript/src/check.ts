// Helpers of the test programs: compile-time type assertions, runtime checks, the environment
// e2e/typescript_test.go passes in.

// Node's process, the little of it these programs use (no @types/node needed).
declare const process: { env: Record<string, string | undefined>; exitCode?: number };

// Equals is true only when A and B are the same type: never and any do not pass for others,
// so a property the generator turned into never fails the assertion instead of slipping through.
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

// Interchangeable is true when A and B are assignable to each other: the same shape, however
// written (openapi-fetch hands out a flattened copy of the generated response type, which Equals
// tells apart). never is interchangeable only with never.
export type Interchangeable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// IsOptional is true when K is an optional property of T.
export type IsOptional<T, K extends keyof T> = {} extends Pick<T, K> ? true : false;

// assertType compiles only when its argument type is true: assertType<Equals<A, B>>().
export function assertType<T extends true>(): T | void {}

// env returns a variable the Go test set, or throws.
export function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`$${name} is not set: run this program through e2e/typescript_test.go`);
  }
  return v;
}

let checks = 0;

// check throws when cond is false, naming what was checked; it prints what passed, so that a
// failure's output shows how far the program got.
export function check(cond: boolean, what: string, detail?: unknown): void {
  if (!cond) {
    throw new Error(`FAIL ${what}${detail === undefined ? "" : ": " + JSON.stringify(detail)}`);
  }
  checks++;
  console.log(`ok ${checks} ${what}`);
}

// sameKeys reports whether obj has exactly the keys listed, in any order.
export function sameKeys(obj: object, keys: string[]): boolean {
  const have = Object.keys(obj).sort();
  const want = [...keys].sort();
  return have.length === want.length && have.every((k, i) => k === want[i]);
}

// main runs a program and sets the exit status: 1 with the error on any failure.
export function main(program: () => Promise<void>): void {
  program().then(
    () => console.log(`PASS ${checks} checks`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
