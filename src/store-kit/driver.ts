/**
 * A store's driver. It is loaded when the store is constructed, not when its module is imported:
 * an app without the driver (an optional peer dependency) then fails at start-up with the command
 * that fixes it, and a store given an open connection needs no driver of its own. And the words for
 * what went wrong on the driver's connection, shared by the stores that connect over a network.
 */
import { createRequire } from 'node:module';
import { InvalidOptionError } from '../core/errors.js';

// Resolved from this package's place in node_modules, where a peer dependency is found.
const require = createRequire(import.meta.url);

/** Whether `error` says that `name` itself is missing (not a module it needs, nor a failure inside it). */
function isMissing(error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && error.message.includes(`'${name}'`);
}

/**
 * The driver package `name`, loaded for `store` (a class name, for the message). An absent package
 * is an `InvalidOptionError` that says `npm install <name>`; any other failure is rethrown as it is.
 *
 * @example
 * const { Pool } = loadDriver<{ Pool: new (config: object) => MyPool }>('pg', 'MyStore');
 */
export function loadDriver<T>(name: string, store: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    if (isMissing(error, name))
      throw new InvalidOptionError(`${store} needs the package ${name}, which is not installed: npm install ${name}`);
    throw error;
  }
}

/** Codes of a certificate the client refused (Node's names for OpenSSL's verify errors). */
const UNTRUSTED_CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME_MISMATCH/;

type NodeError = Error & { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown };

/** The error that carries the details: the first of an AggregateError (one per address tried) with a code. */
function detailed(error: NodeError): NodeError {
  if (!(error instanceof AggregateError)) return error;
  return (
    (error.errors.find((e: unknown) => e instanceof Error && typeof (e as NodeError).code === 'string') as NodeError | undefined) ?? error
  );
}

/**
 * A socket or TLS error of a store's connection in an operator's words, naming the address or host
 * and keeping Node's code: "connection refused by 10.0.0.5:6379 (ECONNREFUSED)", "unknown host
 * redis.internal (ENOTFOUND)", an untrusted certificate, a failed TLS handshake. Null for an error
 * that is none of these.
 */
export function describeNetworkError(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const e = detailed(error as NodeError);
  const code = typeof e.code === 'string' ? e.code : typeof (error as NodeError).code === 'string' ? String((error as NodeError).code) : '';
  const at = typeof e.address === 'string' ? `${e.address}${typeof e.port === 'number' ? `:${e.port}` : ''}` : null;
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused${at === null ? '' : ` by ${at}`} (ECONNREFUSED): is the server running and listening there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `unknown host${typeof e.hostname === 'string' ? ` ${e.hostname}` : ''} (${code}): check the host name`;
    case 'ETIMEDOUT':
      return `no answer${at === null ? '' : ` from ${at}`} (ETIMEDOUT)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${at ?? 'the server'} (${code})`;
    case 'ECONNRESET':
      return `the connection was reset${at === null ? '' : ` by ${at}`} (ECONNRESET)`;
  }
  if (UNTRUSTED_CERTIFICATE.test(code)) return `the server's TLS certificate is not trusted: ${e.message} (${code})`;
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return `TLS handshake failed: ${e.message} (${code})`;
  return null;
}
