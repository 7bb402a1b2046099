/** Where a command writes one line (or block) of output. */
export type Output = (line: string) => void;

/** One `tessera` subcommand: a file of its own, listed once in the table in `index.ts`. */
export interface Command {
  /** Its line in `tessera help`, after the command's name. */
  usage: string;
  /**
   * Runs it with the arguments after its name; returns the exit code (0 done, 1 failed, 2 usage).
   * `env` is where `TESSERA_STORE` and `TESSERA_ENCRYPTION_KEYS` are read (tests pass their own).
   */
  run(args: string[], out: Output, err: Output, env: NodeJS.ProcessEnv): number | Promise<number>;
}
