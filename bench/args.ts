/** Command-line options of the bench scripts: `--name value`. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** An integer option, at least `min`; a bad value stops the bench with a clear message. */
export function int(name: string, fallback: number, min: number): number {
  const v = Number(arg(name) ?? fallback);
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return v;
}
