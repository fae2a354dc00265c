/**
 * The `arbor` command: a thin shell over the client library. Parsing and rendering live in
 * ./commands (pure, unit-tested); this file only wires process I/O, signals and exit codes.
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage, 130 interrupted.
 */
import { ArborClient } from '../client/client.js';
import { CancelledError } from '../client/errors.js';
import { formatError } from './commands/format.js';
import { parseCommandLine } from './commands/parse.js';
import { runCommand } from './commands/run.js';
import { cliCredentials } from './tls.js';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Resolved at run time so the client builds before (and without) the server module. */
const SERVER_MODULE = '../main.js';

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'certs') {
    const { runCertsCli } = await import('./certs.js');
    return runCertsCli(argv.slice(1));
  }
  if (argv[0] === 'snapshot') {
    const { runSnapshotCli } = await import('./snapshot.js');
    return runSnapshotCli(argv.slice(1));
  }
  const parsed = parseCommandLine(argv, process.env);
  if (!parsed.ok) {
    console.error(`arbor: ${parsed.error}`);
    return 2;
  }
  const { globals, command } = parsed.value;
  if (command.type === 'help') {
    console.log(command.text);
    return 0;
  }
  if (command.type === 'server') {
    let m: { runServerCli(argv: string[]): Promise<void> };
    try {
      m = (await import(SERVER_MODULE)) as typeof m;
    } catch (e) {
      console.error(`arbor: cannot load the server (${e instanceof Error ? e.message : String(e)})`);
      return 1;
    }
    await m.runServerCli(command.argv);
    // runServerCli reports a bad configuration through process.exitCode (2); keep it.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  }
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once('SIGINT', onSigint);
  let credentials;
  try {
    credentials = cliCredentials(globals.tls);
  } catch (e) {
    console.error(`arbor: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const client = new ArborClient({
    endpoints: globals.endpoints,
    credentials,
    ...(globals.timeoutMs === undefined ? {} : { defaultDeadlineMs: globals.timeoutMs }),
    ...(globals.auth === undefined ? {} : { user: globals.auth.user, password: globals.auth.password }),
  });
  try {
    await runCommand(client, globals, command, {
      out: (line) => process.stdout.write(`${line}\n`),
      raw: (data) => process.stdout.write(data),
      readStdin,
      signal: interrupt.signal,
    });
    return interrupt.signal.aborted && command.type !== 'watch' ? 130 : 0;
  } catch (e) {
    if (e instanceof CancelledError && interrupt.signal.aborted) return 130;
    console.error(formatError(e));
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
