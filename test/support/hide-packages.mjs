// Loaded with `node --import` before anything else: the packages named in TESSERA_HIDE (comma
// separated) look uninstalled to both `import` and `require`, failing as Node fails for a package
// that is absent (ERR_MODULE_NOT_FOUND, MODULE_NOT_FOUND), so that a test sees what an app without
// an optional driver sees.
import Module, { register } from 'node:module';

const hidden = (process.env.TESSERA_HIDE ?? '').split(',').filter((name) => name !== '');
const isHidden = (specifier) => hidden.some((name) => specifier === name || specifier.startsWith(`${name}/`));

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (isHidden(request)) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolveFilename.call(this, request, ...rest);
};

const hooks = `
const hidden = ${JSON.stringify(hidden)};
export async function resolve(specifier, context, next) {
  if (hidden.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    const error = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
