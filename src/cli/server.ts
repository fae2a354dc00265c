/** Entry point of one member process: `node dist/cli/server.js --id 1 ...` (same as `arbor server`). */
import { runServerCli } from '../main.js';

await runServerCli(process.argv.slice(2));
