// Runs examples/hono/app.ts as its own process and drives it over HTTP; the same flow as the
// Express example's test, through the Hono adapter on @hono/node-server.
import { runExampleFlow } from './support/example-flow.js';

runExampleFlow('examples/hono/app.ts');
