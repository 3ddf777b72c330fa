/**
 * A codec between Envoy's proto3 JSON form (as Envoy's admin `config_dump` prints it) and binary
 * protobuf, driven by the protobufjs reflection types of the published Envoy protos.
 *
 * The JSON form: proto field names (snake_case; lowerCamel JSON names are accepted on input),
 * `@type` on Any, enums as their names, Duration as "2s", Timestamp as RFC 3339,
 * google.protobuf.Struct/Value/ListValue as plain JSON, wrappers (UInt32Value, BoolValue, …) as
 * plain values, 64-bit integers as decimal strings, bytes as base64.
 *
 * protobufjs's own `fromObject` silently drops unknown fields and does not understand Duration
 * strings, Struct or wrapper scalars, so this walks the reflection types itself. An unknown
 * field name is an error naming its path (e.g. `Listener.filter_chains[0].filters[0].name`), so a
 * typo in a generated resource is caught rather than dropped.
 *
 * The `*Result` variants never throw; they return `{ value } | { error }` for
 * use on an xDS stream, where a bad resource becomes a NACK's error_detail.
 */
import type { Enum, Field, Type } from 'protobufjs';
import protobuf from 'protobufjs';
import { MeshError, isMeshError } from '@mesh/errors';
import { envoyProtoRoot, lookupMessageType } from './protos.js';
import { ProtoWriter } from './proto-writer.js';
import { TYPE_URL_PREFIX, messageNameOfTypeUrl } from './type-urls.js';

/** A google.protobuf.Any in binary form, as carried in DiscoveryResponse.resources. */
export interface EncodedAny {
  type_url: string;
  value: Uint8Array;
}

export type JsonObject = Record<string, unknown>;

/** An Envoy resource in JSON form: an Any with its `@type`. */
export type ResourceJson = JsonObject & { '@type': string };

/** Result of an operation that never throws: xDS turns an error into a NACK, never into an exception on the stream. */
export type CodecResult<T> = { value: T; error?: undefined } | { value?: undefined; error: MeshError };

const WRAPPER_TYPES = new Set([
  '.google.protobuf.DoubleValue',
  '.google.protobuf.FloatValue',
  '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value',
  '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue',
  '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);

/** Well-known types whose JSON form is not an object of their fields; in an Any they sit under "value". */
const SPECIAL_JSON_TYPES = new Set([
  ...WRAPPER_TYPES,
  '.google.protobuf.Duration',
  '.google.protobuf.Timestamp',
  '.google.protobuf.Struct',
  '.google.protobuf.Value',
  '.google.protobuf.ListValue',
  '.google.protobuf.FieldMask',
]);

const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const MAX_DURATION_SECONDS = 315_576_000_000;

// ---------------------------------------------------------------------------------------------
// Public API

/** Encodes a JSON resource (with `@type`) into an Any. Throws MeshError `XDS_ERR_*` naming the path. */
export function encodeResource(json: ResourceJson): EncodedAny {
  envoyProtoRoot();
  return jsonToAny(json, '');
}

/** Decodes an Any into its JSON form (with `@type`). Throws MeshError `XDS_ERR_*`. */
export function decodeResource(any: EncodedAny): ResourceJson {
  envoyProtoRoot();
  return anyToJson(any, '');
}

/** encodeResource that never throws. */
export function encodeResourceResult(json: ResourceJson): CodecResult<EncodedAny> {
  return attempt(() => encodeResource(json), 'XDS_ERR_ENCODE');
}

/** decodeResource that never throws. */
export function decodeResourceResult(any: EncodedAny): CodecResult<ResourceJson> {
  return attempt(() => decodeResource(any), 'XDS_ERR_DECODE');
}

/** Encodes a message of a named type (no `@type`), e.g. `envoy.service.discovery.v3.DiscoveryRequest`. */
export function encodeMessage(typeName: string, json: JsonObject): Uint8Array {
  const type = requireType(typeName, '');
  return encodeWithType(type, json, shortName(type));
}

/** Decodes a message of a named type into JSON form (no `@type`). */
export function decodeMessage(typeName: string, bytes: Uint8Array): JsonObject {
  const type = requireType(typeName, '');
  const message = decodeBytes(type, bytes, shortName(type));
  return messageToJson(type, message as unknown as JsonObject, shortName(type)) as JsonObject;
}

/**
 * The canonical JSON of a resource: what a proxy decodes from the wire. Drops fields set to
 * their proto3 default and normalises value spellings; used to compare and to golden-test.
 */
export function canonicalResource(json: ResourceJson): ResourceJson {
  return decodeResource(encodeResource(json));
}

// ---------------------------------------------------------------------------------------------
// JSON -> protobufjs plain object

/** One writer reused by every top-level encode (encoding is synchronous and not re-entrant). */
const sharedWriter = new ProtoWriter();

/**
 * Sub-messages whose encoding is kept during one top-level encode, so an object the JSON refers
 * to more than once is encoded once: a generator shares one object where a resource repeats the
 * same content (the ztunnel outbound matcher gives every pod of an identity the same
 * destination matcher, hundreds of kilobytes each). Bounds: small ones are cheaper to encode
 * again than to copy, and the largest are unique containers (the whole matcher).
 */
const SHARE_MIN_BYTES = 2 * 1024;
const SHARE_MAX_BYTES = 16 * 1024 * 1024;
let encodedObjects: Map<object, { type: Type; bytes: Uint8Array }> | undefined;

function encodeWithType(type: Type, json: unknown, path: string): Uint8Array {
  const writer = sharedWriter.reset();
  encodedObjects = new Map();
  try {
    writeMessage(writer, type, json, path);
  } finally {
    encodedObjects = undefined;
  }
  return writer.finish();
}

function jsonToAny(json: unknown, parentPath: string): EncodedAny {
  const { typeUrl, type, body, label } = anyParts(json, parentPath);
  return { type_url: typeUrl, value: encodeWithType(type, body, label) };
}

/** Validates an Any's JSON and splits it into its type and the body to encode with that type. */
function anyParts(json: unknown, parentPath: string): { typeUrl: string; type: Type; body: unknown; label: string } {
  if (!isPlainObject(json)) throw invalid(parentPath || 'Any', 'expected an object with "@type"');
  const typeUrl = json['@type'];
  if (typeof typeUrl !== 'string' || typeUrl.length === 0) {
    throw invalid(parentPath || 'Any', 'an Any needs a "@type" naming its type URL');
  }
  const type = requireType(messageNameOfTypeUrl(typeUrl), parentPath);
  const label = parentPath ? `${parentPath}(${shortName(type)})` : shortName(type);
  if (SPECIAL_JSON_TYPES.has(fullNameOf(type))) {
    for (const key of Object.keys(json)) {
      if (key !== '@type' && key !== 'value') throw unknownField(`${label}.${key}`, type, 'only "value" is allowed beside "@type"');
    }
    return { typeUrl, type, body: json['value'], label };
  }
  const { '@type': _ignored, ...fields } = json;
  return { typeUrl, type, body: fields, label };
}

/** ProtoWriter's methods by proto scalar type name (`uint32`, `int64`, `string`, …). */
type ScalarWriters = Record<string, (value: unknown) => ProtoWriter>;

// Wire types (protobuf encoding spec).
const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const tag = (fieldId: number, wireType: number) => ((fieldId << 3) | wireType) >>> 0;

/**
 * Writes `json` as a message of `type`, validating as it goes. This walks the JSON once and
 * writes straight into a ProtoWriter (no intermediate objects, no fromObject), fields in
 * field-number order like protobufjs's own encoder, so the bytes are the same.
 */
function writeMessage(writer: ProtoWriter, type: Type, json: unknown, path: string): void {
  const fullName = fullNameOf(type);
  switch (fullName) {
    case '.google.protobuf.Any': {
      const { typeUrl, type: inner, body, label } = anyParts(json, path);
      writer.uint32(tag(1, WIRE_LEN)).string(typeUrl);
      writer.uint32(tag(2, WIRE_LEN)).fork();
      writeMessage(writer, inner, body, label);
      writer.ldelim();
      return;
    }
    case '.google.protobuf.Duration':
      writeSecondsNanos(writer, parseDuration(json, path));
      return;
    case '.google.protobuf.Timestamp':
      writeSecondsNanos(writer, parseTimestamp(json, path));
      return;
    case '.google.protobuf.Struct':
      if (!isPlainObject(json)) throw invalid(path, 'expected a JSON object (google.protobuf.Struct)');
      writeStruct(writer, json, path);
      return;
    case '.google.protobuf.Value':
      writeValue(writer, json, path);
      return;
    case '.google.protobuf.ListValue':
      if (!Array.isArray(json)) throw invalid(path, 'expected a JSON array (google.protobuf.ListValue)');
      writeListValues(writer, json, path);
      return;
    case '.google.protobuf.FieldMask':
      if (typeof json !== 'string') throw invalid(path, 'expected a comma-separated string (google.protobuf.FieldMask)');
      for (const fieldPath of json.length ? json.split(',') : []) writer.uint32(tag(1, WIRE_LEN)).string(fieldPath);
      return;
    default:
      break;
  }
  if (WRAPPER_TYPES.has(fullName)) {
    const valueField = type.fields['value'];
    if (!valueField) throw invalid(path, `wrapper ${fullName} has no value field`);
    writeScalar(writer, valueField, valueField.id, scalarToPlain(valueField, json, path));
    return;
  }
  if (!isPlainObject(json)) throw invalid(path, `expected an object (${shortName(type)})`);
  const present: Array<{ field: Field; value: unknown; path: string }> = [];
  let oneofOwner: Map<string, string> | undefined;
  for (const key in json) {
    const value = json[key];
    const field = fieldByJsonKey(type, key);
    const fieldPath = path ? `${path}.${key}` : key;
    if (!field) throw unknownField(fieldPath, type);
    if (value === null || value === undefined) continue; // proto3 JSON: null means "not set"
    const oneof = field.partOf;
    if (oneof) {
      oneofOwner ??= new Map();
      const previous = oneofOwner.get(oneof.name);
      if (previous) throw invalid(fieldPath, `"${previous}" and "${field.name}" are both set but belong to oneof "${oneof.name}"`);
      oneofOwner.set(oneof.name, field.name);
    }
    present.push({ field, value, path: fieldPath });
  }
  if (present.length > 1) present.sort((a, b) => a.field.id - b.field.id);
  for (const { field, value, path: fieldPath } of present) writeField(writer, field, value, fieldPath);
}

function writeField(writer: ProtoWriter, field: Field, value: unknown, path: string): void {
  if (field.map) {
    if (!isPlainObject(value)) throw invalid(path, 'expected an object (map)');
    const keyType = (field as unknown as { keyType: string }).keyType;
    const keyWireType = protobuf.types.mapKey[keyType as keyof typeof protobuf.types.mapKey] ?? WIRE_LEN;
    for (const key in value) {
      const item = value[key];
      const itemPath = `${path}["${key}"]`;
      if (item === null || item === undefined) throw invalid(itemPath, 'map values may not be null');
      writer.uint32(tag(field.id, WIRE_LEN)).fork();
      (writer as unknown as ScalarWriters)[keyType]!.call(writer.uint32(tag(1, keyWireType)), mapKeyValue(keyType, key, itemPath));
      writeSingle(writer, field, 2, item, itemPath);
      writer.ldelim();
    }
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw invalid(path, 'expected an array');
    const resolved = field.resolvedType;
    const scalarType = resolved instanceof protobuf.Enum ? 'int32' : field.type;
    if (field.packed && protobuf.types.packed[scalarType as keyof typeof protobuf.types.packed] !== undefined) {
      if (value.length === 0) return;
      writer.uint32(tag(field.id, WIRE_LEN)).fork();
      value.forEach((item, i) => {
        const itemPath = `${path}[${i}]`;
        const plain = resolved instanceof protobuf.Enum ? enumToPlain(resolved, item, itemPath) : scalarToPlain(field, item, itemPath);
        (writer as unknown as ScalarWriters)[scalarType]!.call(writer, plain);
      });
      writer.ldelim();
      return;
    }
    value.forEach((item, i) => writeSingle(writer, field, field.id, item, `${path}[${i}]`));
    return;
  }
  writeSingle(writer, field, field.id, value, path);
}

function writeSingle(writer: ProtoWriter, field: Field, fieldId: number, value: unknown, path: string): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    writer.uint32(tag(fieldId, WIRE_LEN));
    const known = typeof value === 'object' && value !== null ? encodedObjects?.get(value) : undefined;
    if (known && known.type === resolved) {
      writer.raw(known.bytes);
      return;
    }
    const start = writer.length;
    writer.fork();
    writeMessage(writer, resolved, value, path);
    writer.ldelim();
    const size = writer.length - start;
    if (encodedObjects && typeof value === 'object' && value !== null && size >= SHARE_MIN_BYTES && size <= SHARE_MAX_BYTES) {
      encodedObjects.set(value, { type: resolved, bytes: writer.copy(start, writer.length) });
    }
    return;
  }
  if (resolved instanceof protobuf.Enum) {
    writer.uint32(tag(fieldId, WIRE_VARINT)).int32(enumToPlain(resolved, value, path));
    return;
  }
  writeScalar(writer, field, fieldId, scalarToPlain(field, value, path));
}

function writeScalar(writer: ProtoWriter, field: Field, fieldId: number, value: unknown): void {
  const wireType = protobuf.types.basic[field.type as keyof typeof protobuf.types.basic];
  const write = (writer as unknown as ScalarWriters)[field.type]!;
  write.call(writer.uint32(tag(fieldId, wireType)), value);
}

function mapKeyValue(keyType: string, key: string, path: string): unknown {
  if (keyType === 'string') return key;
  if (keyType === 'bool') {
    if (key !== 'true' && key !== 'false') throw invalid(path, 'a bool map key must be "true" or "false"');
    return key === 'true';
  }
  if (!/^-?\d+$/.test(key)) throw invalid(path, `a ${keyType} map key must be an integer`);
  return INT64_TYPES.has(keyType) ? key : Number(key);
}

function writeSecondsNanos(writer: ProtoWriter, value: { seconds: string; nanos: number }): void {
  writer.uint32(tag(1, WIRE_VARINT)).int64(value.seconds);
  writer.uint32(tag(2, WIRE_VARINT)).int32(value.nanos);
}

function writeStruct(writer: ProtoWriter, json: JsonObject, path: string): void {
  for (const key in json) {
    writer.uint32(tag(1, WIRE_LEN)).fork(); // map<string, Value> fields = 1: one entry
    writer.uint32(tag(1, WIRE_LEN)).string(key);
    writer.uint32(tag(2, WIRE_LEN)).fork();
    writeValue(writer, json[key], `${path}.${key}`);
    writer.ldelim();
    writer.ldelim();
  }
}

/** google.protobuf.Value: null_value = 1, number_value = 2, string_value = 3, bool_value = 4, struct_value = 5, list_value = 6. */
function writeValue(writer: ProtoWriter, value: unknown, path: string): void {
  if (value === null) writer.uint32(tag(1, WIRE_VARINT)).int32(0);
  else if (typeof value === 'number') writer.uint32(tag(2, 1)).double(value);
  else if (typeof value === 'string') writer.uint32(tag(3, WIRE_LEN)).string(value);
  else if (typeof value === 'boolean') writer.uint32(tag(4, WIRE_VARINT)).bool(value);
  else if (Array.isArray(value)) {
    writer.uint32(tag(6, WIRE_LEN)).fork();
    writeListValues(writer, value, path);
    writer.ldelim();
  } else if (isPlainObject(value)) {
    writer.uint32(tag(5, WIRE_LEN)).fork();
    writeStruct(writer, value, path);
    writer.ldelim();
  } else throw invalid(path, `${describe(value)} cannot be represented in google.protobuf.Value`);
}

function writeListValues(writer: ProtoWriter, values: unknown[], path: string): void {
  values.forEach((item, i) => {
    writer.uint32(tag(1, WIRE_LEN)).fork();
    writeValue(writer, item, `${path}[${i}]`);
    writer.ldelim();
  });
}

function enumToPlain(enumType: Enum, value: unknown, path: string): number {
  if (typeof value === 'string') {
    const number = enumType.values[value];
    if (number === undefined) {
      throw invalid(path, `"${value}" is not a value of enum ${enumType.name} (expected one of ${Object.keys(enumType.values).join(', ')})`);
    }
    return number;
  }
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  throw invalid(path, `expected an enum name of ${enumType.name}`);
}

function scalarToPlain(field: Field, value: unknown, path: string): unknown {
  const kind = field.type;
  if (kind === 'string') {
    if (typeof value !== 'string') throw invalid(path, `expected a string, got ${describe(value)}`);
    return value;
  }
  if (kind === 'bool') {
    if (typeof value !== 'boolean') throw invalid(path, `expected true or false, got ${describe(value)}`);
    return value;
  }
  if (kind === 'bytes') {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw invalid(path, 'expected base64 bytes');
    return new Uint8Array(Buffer.from(value, 'base64'));
  }
  if (kind === 'double' || kind === 'float') {
    if (typeof value === 'number') return value;
    if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
    throw invalid(path, `expected a number, got ${describe(value)}`);
  }
  if (INT32_TYPES.has(kind) || UINT32_TYPES.has(kind)) {
    const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number)) throw invalid(path, `expected an integer (${kind}), got ${describe(value)}`);
    const [min, max] = UINT32_TYPES.has(kind) ? [0, 0xffff_ffff] : [-0x8000_0000, 0x7fff_ffff];
    if (number < min || number > max) throw invalid(path, `${number} is out of range for ${kind}`);
    return number;
  }
  if (INT64_TYPES.has(kind)) {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
    throw invalid(path, `expected an integer (${kind}, as a number or decimal string), got ${describe(value)}`);
  }
  throw invalid(path, `unsupported scalar type ${kind}`);
}

const VALUE_KINDS = ['null_value', 'number_value', 'string_value', 'bool_value', 'struct_value', 'list_value'] as const;
type ValueKind = (typeof VALUE_KINDS)[number];
let valueFieldNameCache: Record<ValueKind, string> | undefined;

/**
 * google.protobuf.Value's field names as this Root spells them: protobufjs's bundled copy of
 * struct.proto uses lowerCamel names (`stringValue`) even with keepCase.
 */
function valueFieldNames(): Record<ValueKind, string> {
  if (!valueFieldNameCache) {
    const valueType = requireType('google.protobuf.Value', '');
    const entries = VALUE_KINDS.map((kind) => [kind, fieldByJsonKey(valueType, kind)?.name ?? fieldByJsonKey(valueType, snakeToLowerCamel(kind))?.name ?? kind]);
    valueFieldNameCache = Object.fromEntries(entries) as Record<ValueKind, string>;
  }
  return valueFieldNameCache;
}

function parseDuration(value: unknown, path: string): { seconds: string; nanos: number } {
  const match = typeof value === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) throw invalid(path, `expected a duration like "2s" or "0.250s", got ${describe(value)}`);
  const sign = match[1] ? -1 : 1;
  const seconds = Number(match[2]);
  if (seconds > MAX_DURATION_SECONDS) throw invalid(path, 'duration out of range');
  const nanos = Number((match[3] ?? '').padEnd(9, '0'));
  return { seconds: String(sign * seconds), nanos: sign * nanos };
}

function parseTimestamp(value: unknown, path: string): { seconds: string; nanos: number } {
  const match =
    typeof value === 'string'
      ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(value)
      : null;
  const millis = match ? Date.parse(`${match[1]}${match[3]}`) : Number.NaN;
  if (!match || Number.isNaN(millis)) throw invalid(path, `expected an RFC 3339 timestamp, got ${describe(value)}`);
  return { seconds: String(Math.floor(millis / 1000)), nanos: Number((match[2] ?? '').padEnd(9, '0')) };
}

// ---------------------------------------------------------------------------------------------
// protobufjs message -> JSON

function anyToJson(any: EncodedAny, parentPath: string): ResourceJson {
  const typeUrl = any.type_url;
  const type = requireType(messageNameOfTypeUrl(typeUrl), parentPath);
  const label = parentPath ? `${parentPath}(${shortName(type)})` : shortName(type);
  const message = decodeBytes(type, any.value ?? new Uint8Array(), label);
  const json = messageToJson(type, message as unknown as JsonObject, label);
  if (SPECIAL_JSON_TYPES.has(fullNameOf(type))) return { '@type': typeUrl, value: json };
  return { '@type': typeUrl, ...(json as JsonObject) };
}

function messageToJson(type: Type, message: JsonObject, path: string): unknown {
  const fullName = fullNameOf(type);
  switch (fullName) {
    case '.google.protobuf.Any':
      return anyToJson(message as unknown as EncodedAny, path);
    case '.google.protobuf.Duration':
      return formatDuration(message);
    case '.google.protobuf.Timestamp':
      return formatTimestamp(message);
    case '.google.protobuf.Struct':
      return structToJson(message);
    case '.google.protobuf.Value':
      return valueToJson(message);
    case '.google.protobuf.ListValue':
      return ((message['values'] as JsonObject[] | undefined) ?? []).map(valueToJson);
    case '.google.protobuf.FieldMask':
      return ((message['paths'] as string[] | undefined) ?? []).join(',');
    default:
      break;
  }
  if (WRAPPER_TYPES.has(fullName)) {
    const valueField = type.fields['value'];
    if (!valueField) return undefined;
    const raw = message['value'] ?? valueField.typeDefault;
    return scalarToJson(valueField, raw);
  }
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    const value = message[field.name];
    if (value === null || value === undefined) continue;
    const fieldPath = `${path}.${field.name}`;
    if (field.map) {
      const entries = Object.entries(value as JsonObject);
      if (entries.length === 0) continue;
      out[field.name] = Object.fromEntries(entries.map(([key, item]) => [key, singleToJson(field, item, `${fieldPath}["${key}"]`)]));
    } else if (field.repeated) {
      const items = value as unknown[];
      if (items.length === 0) continue;
      out[field.name] = items.map((item, i) => singleToJson(field, item, `${fieldPath}[${i}]`));
    } else {
      out[field.name] = singleToJson(field, value, fieldPath);
    }
  }
  return out;
}

function singleToJson(field: Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageToJson(resolved, value as JsonObject, path);
  if (resolved instanceof protobuf.Enum) return resolved.valuesById[value as number] ?? value;
  return scalarToJson(field, value);
}

function scalarToJson(field: Field, value: unknown): unknown {
  if (field.type === 'bytes') return Buffer.from(value as Uint8Array).toString('base64');
  if (INT64_TYPES.has(field.type)) return longToString(value);
  if ((field.type === 'double' || field.type === 'float') && typeof value === 'number' && !Number.isFinite(value)) {
    return String(value);
  }
  return value;
}

function structToJson(message: JsonObject): JsonObject {
  const fields = (message['fields'] as Record<string, JsonObject> | undefined) ?? {};
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, valueToJson(value)]));
}

function valueToJson(message: JsonObject): unknown {
  const names = valueFieldNames();
  if (has(message, names.null_value)) return null;
  if (has(message, names.number_value)) return message[names.number_value];
  if (has(message, names.string_value)) return message[names.string_value];
  if (has(message, names.bool_value)) return message[names.bool_value];
  if (has(message, names.struct_value)) return structToJson(message[names.struct_value] as JsonObject);
  if (has(message, names.list_value)) return (((message[names.list_value] as JsonObject)['values'] as JsonObject[] | undefined) ?? []).map(valueToJson);
  return null;
}

function formatDuration(message: JsonObject): string {
  const seconds = BigInt(longToString(message['seconds'] ?? 0));
  const nanos = Number(message['nanos'] ?? 0);
  const negative = seconds < 0n || nanos < 0;
  const absSeconds = seconds < 0n ? -seconds : seconds;
  return `${negative ? '-' : ''}${absSeconds}${formatNanos(Math.abs(nanos))}s`;
}

function formatTimestamp(message: JsonObject): string {
  const seconds = Number(longToString(message['seconds'] ?? 0));
  const nanos = Number(message['nanos'] ?? 0);
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${base}${formatNanos(nanos)}Z`;
}

/** proto3 JSON prints 0, 3, 6 or 9 fractional digits. */
function formatNanos(nanos: number): string {
  if (nanos === 0) return '';
  if (nanos % 1_000_000 === 0) return `.${String(nanos / 1_000_000).padStart(3, '0')}`;
  if (nanos % 1_000 === 0) return `.${String(nanos / 1_000).padStart(6, '0')}`;
  return `.${String(nanos).padStart(9, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// helpers

const jsonNameIndex = new WeakMap<Type, Map<string, Field>>();

function fieldByJsonKey(type: Type, key: string): Field | undefined {
  const direct = type.fields[key];
  if (direct) return direct;
  let index = jsonNameIndex.get(type);
  if (!index) {
    index = new Map(type.fieldsArray.map((field) => [snakeToLowerCamel(field.name), field]));
    jsonNameIndex.set(type, index);
  }
  return index.get(key);
}

function snakeToLowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());
}

const fullNames = new WeakMap<Type, string>();

/** protobufjs recomputes `fullName` by walking parents on every access; the hot paths cache it. */
function fullNameOf(type: Type): string {
  let name = fullNames.get(type);
  if (name === undefined) {
    name = type.fullName;
    fullNames.set(type, name);
  }
  return name;
}

const typesByName = new Map<string, Type | undefined>();

function requireType(fullName: string, path: string): Type {
  let type = typesByName.get(fullName);
  if (type === undefined) {
    type = lookupMessageType(fullName);
    if (type) typesByName.set(fullName, type);
  }
  if (!type) {
    throw new MeshError('XDS_ERR_UNKNOWN_TYPE', `${path ? `${path}: ` : ''}unknown message type "${fullName}"`, {
      context: { path, type: fullName },
      hint: `the type URL must be ${TYPE_URL_PREFIX}<full message name> of a type in @mesh/xds ENVOY_PROTO_FILES`,
    });
  }
  return type;
}

function decodeBytes(type: Type, bytes: Uint8Array, path: string): protobuf.Message {
  try {
    return type.decode(bytes);
  } catch (cause) {
    throw new MeshError('XDS_ERR_DECODE', `${path}: bytes are not a valid ${type.fullName.slice(1)}: ${String(cause)}`, {
      cause,
      context: { path },
    });
  }
}

function shortName(type: Type): string {
  return type.name;
}

function longToString(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string') return String(value);
  if (value && typeof value === 'object') return String((value as { toString(): string }).toString());
  return '0';
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function has(object: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key) && object[key] !== undefined && object[key] !== null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function invalid(path: string, message: string): MeshError {
  return new MeshError('XDS_ERR_INVALID_VALUE', `${path}: ${message}`, { context: { path } });
}

function unknownField(path: string, type: Type, detail?: string): MeshError {
  return new MeshError('XDS_ERR_UNKNOWN_FIELD', `${path}: unknown field for ${type.fullName.slice(1)}${detail ? ` (${detail})` : ''}`, {
    context: { path, type: type.fullName.slice(1) },
    hint: 'check the spelling against the Envoy v3 proto; field names are snake_case',
  });
}

function attempt<T>(fn: () => T, fallbackCode: string): CodecResult<T> {
  try {
    return { value: fn() };
  } catch (cause) {
    if (isMeshError(cause)) return { error: cause };
    return { error: new MeshError(fallbackCode, String(cause), { cause }) };
  }
}
