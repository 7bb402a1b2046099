/** One `tessera` subcommand: a file of its own, listed once in the table in `index.ts`. */
export interface Command {
  /** Its line in `tessera help`, after the command's name. */
  usage: string;
  /** Runs it with the arguments after its name; returns the exit code. */
  run(args: string[], out: (line: string) => void, err: (line: string) => void): number | Promise<number>;
}
