// Runs examples/fetch/app.ts (a plain Fetch API handler) as its own process and drives it over
// HTTP; the same flow as the Express example's test, through the fetch adapter.
import { runExampleFlow } from './support/example-flow.js';

runExampleFlow('examples/fetch/app.ts');
