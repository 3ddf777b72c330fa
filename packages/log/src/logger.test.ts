import { describe, expect, it } from 'vitest';
import { applyLoggingQuery, createLogger, createMemoryLogger } from './logger.js';
import { jsonLineSplitter } from './reader.js';

describe('createLogger', () => {
  it('writes one JSON object per line: time, level, scope, msg, then the fields', () => {
    const lines: string[] = [];
    const logger = createLogger({ scopes: ['xds'], write: (l) => void lines.push(l) });
    logger.log('xds', 'info', 'config "applied"', { 'dst.addr': '10.0.0.1:80', n: 2 });
    logger.log('xds', 'warn', 'no fields');
    logger.log('xds', 'info', 'empty fields', {});
    expect(lines.every((l) => l.endsWith('}\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [first, second, third] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(first!)).toEqual(['time', 'level', 'scope', 'msg', 'dst.addr', 'n']);
    expect(first).toMatchObject({ level: 'info', scope: 'xds', msg: 'config "applied"', 'dst.addr': '10.0.0.1:80', n: 2 });
    expect(new Date(String(first!['time'])).toISOString()).toBe(first!['time']);
    expect(second).toMatchObject({ level: 'warn', msg: 'no fields' });
    expect(Object.keys(third!)).toEqual(['time', 'level', 'scope', 'msg']);
  });

  it('parses as the spread object would: a field named like a leading key wins', () => {
    const lines: string[] = [];
    const logger = createLogger({ scopes: ['a'], write: (l) => void lines.push(l) });
    logger.log('a', 'info', 'm', { level: 'custom' });
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'custom', msg: 'm' });
  });

  it('filters per scope, and levels change at runtime for one scope or all', () => {
    const logger = createMemoryLogger(['access', 'xds'] as const);
    logger.setLevel('all', 'info');
    logger.log('xds', 'debug', 'hidden');
    logger.setLevel('xds', 'debug');
    logger.log('xds', 'debug', 'shown');
    logger.setLevel('access', 'off');
    logger.log('access', 'error', 'silenced');
    expect(logger.entries.map((e) => e['msg'])).toEqual(['shown']);
    expect(logger.enabled('xds', 'debug')).toBe(true);
    expect(logger.enabled('access', 'error')).toBe(false);
  });

  it('sends a scope with a stream of its own there, and the rest to write', () => {
    const app: string[] = [];
    const access: string[] = [];
    const logger = createLogger({ scopes: ['access', 'proxy'], write: (l) => void app.push(l), streams: { access: (l) => void access.push(l) } });
    logger.log('access', 'info', 'conn');
    logger.scoped('proxy').warn('hm');
    expect(access.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['conn']);
    expect(app.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([expect.objectContaining({ scope: 'proxy', level: 'warn', msg: 'hm' })]);
  });
});

describe('applyLoggingQuery', () => {
  it('sets one scope or all, and refuses unknown scopes and levels naming the valid ones', () => {
    const logger = createMemoryLogger(['access', 'xds'] as const);
    expect(applyLoggingQuery(logger, new URLSearchParams('level=warn&xds=debug'))).toEqual({ status: 200, body: { levels: { access: 'warn', xds: 'debug' } } });
    expect(applyLoggingQuery(logger, new URLSearchParams('dns=debug'))).toEqual({ status: 400, body: { error: 'unknown scope dns; use level or access, xds' } });
    expect(applyLoggingQuery(logger, new URLSearchParams('xds=loud')).body['error']).toMatch(/^unknown level loud; use debug, info/);
  });
});

describe('jsonLineSplitter', () => {
  it('parses complete JSON lines across chunks and skips the rest', () => {
    const entries: Array<Record<string, unknown>> = [];
    const feed = jsonLineSplitter((e) => entries.push(e));
    feed('{"msg":"a"}\nplain text\n{"msg":');
    expect(entries).toEqual([{ msg: 'a' }]);
    feed('"b"}\n{broken\n{"msg"');
    expect(entries).toEqual([{ msg: 'a' }, { msg: 'b' }]);
  });
});
