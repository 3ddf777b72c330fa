/** The ObjectMeta fields every kind reads, shared by the kind tables (kinds.ts, security-kinds.ts). */
import { dnsName, required, stringMap, withDefault } from './schema.js';

/** What a kind decoder produces: the resource without its source location (the parser adds it). */
export type Body<T> = Omit<T, 'source'>;

export const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

export const metadata = {
  name: required(dnsName, 'metadata.name'),
  labels: withDefault(stringMap, EMPTY, 'metadata.labels'),
  annotations: withDefault(stringMap, EMPTY, 'metadata.annotations'),
};
export const namespacedMetadata = { ...metadata, namespace: withDefault(dnsName, 'default', 'metadata.namespace') };
