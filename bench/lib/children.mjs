// The child processes this run started (variant servers, scale runs), kept so that the cleanup
// and a Ctrl-C stop every one of them: a server left behind would hold its port and connections.

const children = new Set();

export function trackChild(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Tells the exit handler that this exit was asked for, not a crash to report.
  child.stopping = true;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export const stopAllChildren = () => Promise.all([...children].map(stopChild));
