/**
 * A fast reader for the plain YAML that generated manifests are written in: block mappings and
 * sequences, single-line plain and quoted scalars, single-line flow collections, comments. It
 * builds the same `yaml` nodes (`YAMLMap`, `YAMLSeq`, `Scalar`, with the same start offsets) that
 * the `yaml` package composes, so the decoders and their file:line:column errors are unchanged,
 * at a fraction of the cost (the `yaml` package keeps a concrete syntax tree and its tokens for
 * every node, which took most of a 10,000-pod parse).
 *
 * It handles a document only when it is sure to read it as the `yaml` package would (YAML 1.2,
 * core schema); anything else — anchors, aliases, tags, block scalars, multi-line scalars, escapes,
 * empty values, duplicate keys, tabs, numbers other than small decimal integers, anything it
 * would call an error — makes it return `undefined`, and the caller reads that document with
 * the `yaml` package, which also reports its errors.
 */
import { Pair, Scalar, YAMLMap, YAMLSeq, isMap, isPair, isScalar, isSeq, type Node as YamlNode } from 'yaml';

/** Thrown inside the reader when the document needs the full YAML parser. */
const NOT_PLAIN = Symbol('not plain');

interface Line {
  /** Offset of the line's first character. */
  readonly start: number;
  /** Offset of the first non-space character. */
  readonly content: number;
  /** Offset of the line's end (its newline, or the end of the text). */
  readonly end: number;
}

/** Where a line starts a new document: `---` alone (or followed by a space) at the start of a line. */
const DOCUMENT_START = /^---(?=[ \t\r\n]|$)/gm;

/**
 * Splits a YAML stream into its documents' [start, end) offsets (each but the first starting at
 * its `---` line), or undefined when the stream has directives (`%YAML`) or document end markers
 * (`...`), whose meaning spans documents.
 */
export function splitDocuments(text: string): Array<[number, number]> | undefined {
  if (/^(?:%|\.\.\.(?:[ \t\r\n]|$))/m.test(text)) return undefined;
  const bounds: Array<[number, number]> = [];
  let start = 0;
  for (const match of text.matchAll(DOCUMENT_START)) {
    if (match.index > start) bounds.push([start, match.index]);
    start = match.index;
  }
  if (start < text.length) bounds.push([start, text.length]);
  return bounds;
}

/**
 * The root node of the document in text[start, end) (null when it holds nothing but a `---`
 * and comments), or undefined when the `yaml` package must read it.
 */
export function readPlainDocument(text: string, start: number, end: number): YamlNode | null | undefined {
  try {
    return new PlainReader(text, start, end).document();
  } catch {
    // NOT_PLAIN, or a nesting deeper than the stack (hostile input): the yaml package decides.
    return undefined;
  }
}

function notPlain(): never {
  throw NOT_PLAIN;
}

const NULL = /^(?:~|null|Null|NULL)$/;
const BOOLEAN = /^(?:true|True|TRUE|false|False|FALSE)$/;
const SMALL_DECIMAL = /^[-+]?[0-9]{1,15}$/;
/** Other plain scalars the core schema reads as numbers (octal, hex, floats, infinities, NaN). */
const OTHER_NUMBER = /^(?:[-+]?[0-9][0-9]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
/** Characters that may not start a plain scalar here (indicators, or needing the full parser). */
const PLAIN_FIRST_REFUSED = new Set(['?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`', '"', "'", '<']);

/** A plain scalar's value as the YAML 1.2 core schema resolves it. */
function resolvePlain(source: string): string | number | boolean {
  if (source.length === 0 || NULL.test(source)) notPlain(); // empty values: left to the full parser
  if (BOOLEAN.test(source)) return source[0] === 't' || source[0] === 'T';
  if (SMALL_DECIMAL.test(source)) return Number(source);
  if (OTHER_NUMBER.test(source)) notPlain();
  return source;
}

/**
 * The `yaml` package marks each node's type with a property its constructors define one node at
 * a time (`Object.defineProperty`), which took a third of a plain read. The nodes built here
 * inherit it from their prototype instead: same classes, same `isMap`/`isScalar`/…, same
 * methods. When the package stops recognising such nodes, the constructors are used.
 */
const NODE_TYPE = Symbol.for('yaml.node.type');

function typedPrototype<T extends object>(sample: T): T {
  return Object.create(Object.getPrototypeOf(sample), { [NODE_TYPE]: { value: (sample as Record<symbol, unknown>)[NODE_TYPE] } }) as T;
}

const PROTOTYPES = {
  map: typedPrototype(new YAMLMap()),
  seq: typedPrototype(new YAMLSeq()),
  pair: typedPrototype(new Pair(null)),
  scalar: typedPrototype(new Scalar(null)),
};
const INHERITED_TYPES_WORK =
  isMap(Object.create(PROTOTYPES.map)) && isSeq(Object.create(PROTOTYPES.seq)) && isPair(Object.create(PROTOTYPES.pair)) && isScalar(Object.create(PROTOTYPES.scalar));

function newMap(): YAMLMap {
  if (!INHERITED_TYPES_WORK) return new YAMLMap();
  const map = Object.create(PROTOTYPES.map) as YAMLMap;
  map.items = [];
  return map;
}

function newSeq(): YAMLSeq {
  if (!INHERITED_TYPES_WORK) return new YAMLSeq();
  const seq = Object.create(PROTOTYPES.seq) as YAMLSeq;
  seq.items = [];
  return seq;
}

function newPair(key: YamlNode, value: YamlNode): Pair {
  if (!INHERITED_TYPES_WORK) return new Pair(key, value);
  const pair = Object.create(PROTOTYPES.pair) as Pair;
  pair.key = key;
  pair.value = value;
  return pair;
}

function scalarNode(value: string | number | boolean, start: number, end: number): Scalar {
  const node = INHERITED_TYPES_WORK ? (Object.create(PROTOTYPES.scalar) as Scalar) : new Scalar(value);
  node.value = value;
  node.range = [start, end, end];
  return node;
}

class PlainReader {
  private readonly lines: Line[] = [];
  private index = 0;

  constructor(
    private readonly text: string,
    start: number,
    end: number,
  ) {
    for (let lineStart = start; lineStart < end; ) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      let content = lineStart;
      while (content < lineEnd && text.charCodeAt(content) === 32) content++;
      const first = text[content];
      if (content < lineEnd && first !== '#') {
        for (let i = lineStart; i < lineEnd; i++) {
          const c = text.charCodeAt(i);
          if (c === 9 || c === 13 || c === 0xfeff) notPlain(); // tabs, CR, byte-order marks
        }
        this.lines.push({ start: lineStart, content, end: lineEnd });
      }
      lineStart = lineEnd + 1;
    }
  }

  document(): YamlNode | null {
    let first = this.lines[0];
    if (first && first.content === first.start && isDocumentStart(this.text, first.start)) {
      // The `---` line may carry only a comment.
      if (this.restIsEmpty(first.start + 3, first.end) === false) notPlain();
      this.index = 1;
      first = this.lines[1];
    }
    if (!first) return null;
    if (first.content !== first.start) notPlain(); // an indented root
    const root = this.blockNode(first.content);
    if (this.index < this.lines.length) notPlain();
    if (!(root instanceof YAMLMap)) notPlain(); // left to the full parser (and its error)
    return root;
  }

  private column(at: number): number {
    return at - this.current().start;
  }

  private current(): Line {
    return this.lines[this.index] ?? notPlain();
  }

  private next(): Line | undefined {
    return this.lines[this.index];
  }

  /** A block node starting at `at` on the current line. */
  private blockNode(at: number): YamlNode {
    const line = this.current();
    if (this.isSequenceItem(at, line.end)) return this.sequence(at);
    if (this.keyEnd(at, line.end) !== undefined) return this.mapping(at);
    const node = this.inlineValue(at, line.end);
    this.index++;
    return node;
  }

  private isSequenceItem(at: number, end: number): boolean {
    return this.text[at] === '-' && (at + 1 === end || this.text[at + 1] === ' ');
  }

  private mapping(at: number): YAMLMap {
    const column = this.column(at);
    const map = newMap();
    const keys = new Set<unknown>();
    let last = at;
    for (;;) {
      const line = this.current();
      const colon = this.keyEnd(at, line.end) ?? notPlain();
      const key = this.key(at, colon);
      if (key.value === '<<' || keys.has(key.value)) notPlain(); // merge keys, duplicate keys
      keys.add(key.value);
      let valueAt = colon + 1;
      while (valueAt < line.end && this.text.charCodeAt(valueAt) === 32) valueAt++;
      let value: YamlNode;
      if (this.restIsEmpty(valueAt, line.end)) {
        this.index++;
        const below = this.next() ?? notPlain();
        const indent = below.content - below.start;
        if (indent > column) value = this.blockNode(below.content);
        else if (indent === column && this.isSequenceItem(below.content, below.end)) value = this.sequence(below.content);
        else notPlain(); // an empty value
      } else {
        value = this.inlineValue(valueAt, line.end);
        this.index++;
      }
      map.items.push(newPair(key, value));
      last = value.range?.[2] ?? last;
      const following = this.next();
      if (!following) break;
      const indent = following.content - following.start;
      if (indent < column) break;
      if (indent > column || this.isSequenceItem(following.content, following.end)) notPlain();
      at = following.content;
    }
    map.range = [map.items[0]?.key ? (map.items[0].key as Scalar).range![0] : at, last, last];
    return map;
  }

  private sequence(at: number): YAMLSeq {
    const column = this.column(at);
    const seq = newSeq();
    const first = at;
    let last = at;
    for (;;) {
      const line = this.current();
      let itemAt = at + 1;
      while (itemAt < line.end && this.text.charCodeAt(itemAt) === 32) itemAt++;
      let item: YamlNode;
      if (this.restIsEmpty(itemAt, line.end)) {
        this.index++;
        const below = this.next() ?? notPlain();
        if (below.content - below.start <= column) notPlain(); // an empty item
        item = this.blockNode(below.content);
      } else {
        item = this.blockNode(itemAt);
      }
      seq.items.push(item);
      last = item.range?.[2] ?? last;
      const following = this.next();
      if (!following) break;
      const indent = following.content - following.start;
      if (indent < column) break;
      if (indent > column) notPlain();
      if (!this.isSequenceItem(following.content, following.end)) break; // the next key of the mapping above
      at = following.content;
    }
    seq.range = [first, last, last];
    return seq;
  }

  /** Where the `:` after a block mapping key starting at `at` is, or undefined when the line is no key. */
  private keyEnd(at: number, end: number): number | undefined {
    const quote = this.text[at];
    if (quote === '{' || quote === '[') return undefined; // a flow collection (as a key: left to the full parser)
    if (quote === '"' || quote === "'") {
      const close = this.quotedEnd(at, end);
      return close < end && this.text[close] === ':' && (close + 1 === end || this.text[close + 1] === ' ') ? close : undefined;
    }
    for (let i = at; i < end; i++) {
      const c = this.text[i];
      if (c === ':' && (i + 1 === end || this.text[i + 1] === ' ')) return i;
      if (c === '#' && this.text[i - 1] === ' ') return undefined;
    }
    return undefined;
  }

  private key(at: number, colon: number): Scalar {
    const quote = this.text[at];
    if (quote === '"' || quote === "'") return this.quoted(at, colon);
    let end = colon;
    while (end > at && this.text.charCodeAt(end - 1) === 32) end--;
    return this.plain(at, end);
  }

  /** A value that ends on this line: a scalar or a flow collection, then at most a comment. */
  private inlineValue(at: number, end: number): YamlNode {
    const c = this.text[at];
    let node: YamlNode;
    let after: number;
    if (c === '{' || c === '[') {
      const flow = new FlowReader(this.text, at, end);
      node = flow.collection();
      after = flow.position;
    } else if (c === '"' || c === "'") {
      after = this.quotedEnd(at, end);
      node = this.quoted(at, after);
    } else {
      let stop = end;
      for (let i = at; i < end; i++) {
        const ch = this.text[i];
        if (ch === '#' && this.text[i - 1] === ' ') {
          stop = i;
          break;
        }
        if (ch === ':' && (i + 1 === end || this.text[i + 1] === ' ')) notPlain(); // a mapping where a value belongs
      }
      while (stop > at && this.text.charCodeAt(stop - 1) === 32) stop--;
      return this.plain(at, stop);
    }
    if (!this.restIsEmpty(after, end)) notPlain();
    return node;
  }

  private plain(at: number, end: number): Scalar {
    const source = this.text.slice(at, end);
    const first = source[0] ?? notPlain();
    if (PLAIN_FIRST_REFUSED.has(first) || (first === '-' && (source.length === 1 || source[1] === ' '))) notPlain();
    return scalarNode(resolvePlain(source), at, end);
  }

  /** The offset just after the quoted scalar starting at `at` (on this line, without escapes). */
  private quotedEnd(at: number, end: number): number {
    return quotedScalarEnd(this.text, at, end);
  }

  private quoted(at: number, after: number): Scalar {
    return quotedScalar(this.text, at, after);
  }

  /** Whether text[at, end) holds only spaces and perhaps a comment. */
  private restIsEmpty(at: number, end: number): boolean {
    for (let i = at; i < end; i++) {
      const c = this.text[i];
      if (c === '#') return i === at || this.text[i - 1] === ' ';
      if (c !== ' ') return false;
    }
    return true;
  }
}

function isDocumentStart(text: string, at: number): boolean {
  return text.startsWith('---', at) && (at + 3 === text.length || ' \t\r\n'.includes(text[at + 3]!));
}

function quotedScalarEnd(text: string, at: number, end: number): number {
  const quote = text[at];
  for (let i = at + 1; i < end; i++) {
    const c = text[i];
    if (c === '\\' && quote === '"') notPlain(); // escapes: left to the full parser
    if (c === quote) {
      if (quote === "'" && text[i + 1] === "'") {
        i++;
        continue;
      }
      return i + 1;
    }
  }
  return notPlain(); // a quoted scalar that goes on past this line
}

function quotedScalar(text: string, at: number, after: number): Scalar {
  const inner = text.slice(at + 1, after - 1);
  return scalarNode(text[at] === "'" ? inner.replaceAll("''", "'") : inner, at, after);
}

/** A flow collection (`{a: b, c: [d]}`) that closes on the line it opens. */
class FlowReader {
  position: number;
  constructor(
    private readonly text: string,
    at: number,
    private readonly end: number,
  ) {
    this.position = at;
  }

  collection(): YamlNode {
    const start = this.position;
    const open = this.text[start];
    const close = open === '{' ? '}' : ']';
    const node = open === '{' ? newMap() : newSeq();
    const keys = new Set<unknown>();
    this.position++;
    this.spaces();
    if (this.text[this.position] === close) {
      this.position++;
    } else {
      for (;;) {
        if (node instanceof YAMLMap) {
          const key = this.scalar(true);
          if (key.value === '<<' || keys.has(key.value)) notPlain();
          keys.add(key.value);
          this.spaces();
          if (this.text[this.position] !== ':') notPlain(); // a key without a value
          this.position++;
          if (this.text[this.position] !== ' ') notPlain();
          this.spaces();
          node.items.push(newPair(key, this.value()));
        } else {
          node.items.push(this.value());
        }
        this.spaces();
        const c = this.text[this.position];
        this.position++;
        if (c === close) break;
        if (c !== ',') notPlain();
        this.spaces();
        if (this.text[this.position] === close) notPlain(); // a trailing comma
      }
    }
    node.range = [start, this.position, this.position];
    return node;
  }

  private value(): YamlNode {
    const c = this.text[this.position];
    if (c === '{' || c === '[') return this.collection();
    return this.scalar(false);
  }

  private scalar(isKey: boolean): Scalar {
    const at = this.position;
    const c = this.text[at];
    if (c === '"' || c === "'") {
      this.position = quotedScalarEnd(this.text, at, this.end);
      return quotedScalar(this.text, at, this.position);
    }
    let i = at;
    while (i < this.end) {
      const ch = this.text[i]!;
      if (ch === ',' || ch === '[' || ch === ']' || ch === '{' || ch === '}' || ch === '#') break;
      if (ch === ':') {
        if (!isKey) notPlain(); // `a:b` or an implicit pair inside a flow sequence
        break;
      }
      i++;
    }
    let stop = i;
    while (stop > at && this.text.charCodeAt(stop - 1) === 32) stop--;
    if (this.text[i] === '#') notPlain();
    this.position = i;
    const source = this.text.slice(at, stop);
    const first = source[0] ?? notPlain();
    if (PLAIN_FIRST_REFUSED.has(first) || (first === '-' && (source.length === 1 || source[1] === ' '))) notPlain();
    return scalarNode(resolvePlain(source), at, stop);
  }

  private spaces(): void {
    while (this.position < this.end && this.text.charCodeAt(this.position) === 32) this.position++;
  }
}
