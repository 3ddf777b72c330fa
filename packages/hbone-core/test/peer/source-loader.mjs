// Lets a child process run this workspace's TypeScript sources as the tests do: Node strips the
// types, the `@mesh/source` condition (given with --conditions) points packages at src/, and this
// hook maps the `.js` of a relative import to the `.ts` file next to it.
import { register } from 'node:module';

const hook = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !specifier.endsWith('.js') || !/^\\.{1,2}\\//.test(specifier)) throw err;
    return next(specifier.slice(0, -3) + '.ts', context);
  }
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
