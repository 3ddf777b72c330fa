/**
 * Envoy's URI template path matcher (envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig),
 * which Istio generates for AuthorizationPolicy paths with `{*}` / `{**}`. Same compilation as
 * Envoy's uri_template_lib: the template `/seg/seg/...` becomes a regex matched against the
 * whole path (query and fragment removed), where
 *   `*`  one segment:             [a-zA-Z0-9-._~%!$&'()+,;:@]+ (RFC 3986 pchar without "*" and "=")
 *   `**` zero or more segments:   the same characters and "/", any number of them
 *   a literal segment:            itself
 * joined by "/"; one trailing "/" stays significant. `**` must be the last operator. Variables
 * (`{name=...}`) are a rewrite feature Istio never emits here; they are refused.
 */
import { UnsupportedConfig } from './json.js';

const LITERAL_CHARS = "a-zA-Z0-9\\-._~%!$&'()+,;:@";
const PATH_GLOB = `[${LITERAL_CHARS}]+`;
const TEXT_GLOB = `[${LITERAL_CHARS}/]*`;
const VALID_LITERAL = new RegExp(`^[${LITERAL_CHARS}]+$`);

function escapeLiteral(segment: string): string {
  return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a path template; throws UnsupportedConfig (a NACK reason) naming `path` when invalid. */
export function compileUriTemplate(template: string, path: string): (requestPath: string) => boolean {
  if (!/^\/[\x21-\x7e]*$/.test(template)) throw new UnsupportedConfig(path, `"${template}" is not a path template (it must start with "/" and be printable)`);
  const segments = template.slice(1).split('/');
  let sawTextGlob = false;
  const parts = segments.map((segment, i) => {
    if (segment === '' && i === segments.length - 1 && i > 0) return ''; // trailing "/"
    if (segment === '*' || segment === '**') {
      if (sawTextGlob) throw new UnsupportedConfig(path, `"${template}": no operator may follow "**"`);
      sawTextGlob = segment === '**';
      return segment === '*' ? PATH_GLOB : TEXT_GLOB;
    }
    if (segment.startsWith('{')) throw new UnsupportedConfig(path, `"${template}": template variables are not supported`);
    if (!VALID_LITERAL.test(segment)) throw new UnsupportedConfig(path, `"${template}": invalid literal segment "${segment}"`);
    return escapeLiteral(segment);
  });
  const regex = new RegExp(`^/${parts.join('/')}$`);
  return (requestPath) => regex.test(requestPath.replace(/[?#].*$/s, ''));
}
