import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { parseSampleArgs } from './args.js';

describe('parseSampleArgs', () => {
  it('reads flags, repeatable --listen and --upstream', () => {
    const parsed = parseSampleArgs(['--name', 'reviews-v1', '--node', 'node-a', '--listen', '10.77.1.12:9080', '--listen', '[::1]:80', '--upstream', 'http://ratings:9080/']);
    expect(parsed).toEqual({
      help: false,
      options: {
        workload: { pod: 'reviews-v1', namespace: 'default', node: 'node-a' },
        listen: [{ host: '10.77.1.12', port: 9080 }, { host: '::1', port: 80 }],
        upstreams: ['http://ratings:9080/'],
      },
    });
  });

  it('falls back to the environment (containers)', () => {
    const parsed = parseSampleArgs([], { POD_NAME: 'sleep', POD_NAMESPACE: 'ns1', LISTEN: '0.0.0.0:80, 0.0.0.0:81', UPSTREAMS: 'http://a/,http://b/' });
    expect(parsed.help === false && parsed.options).toMatchObject({ workload: { pod: 'sleep', namespace: 'ns1' }, listen: [{ port: 80 }, { port: 81 }], upstreams: ['http://a/', 'http://b/'] });
  });

  it.each([
    [[], /--name/],
    [['--name', 'x'], /--listen/],
    [['--name', 'x', '--listen', '10.0.0.1'], /not host:port/],
    [['--name', 'x', '--listen', 'a:1', '--upstream', 'nope'], /not a URL/],
    [['--name', 'x', '--listen', 'a:1', '--http-answer', 'xml'], /expected report or echo/],
    [['--name', 'x', '--listen', 'a:1', '--http-answer', 'echo', '--upstream', 'http://a/'], /needs --http-answer report/],
    [['--bogus'], /bogus/],
  ])('refuses %j', (argv, message) => {
    let caught: unknown;
    try {
      parseSampleArgs(argv);
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'SAMPLE_ERR_CONFIG')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  it('--http-answer echo (or HTTP_ANSWER) answers like the conformance suite\'s echo server', () => {
    expect(parseSampleArgs(['--name', 'x', '--listen', 'a:1', '--http-answer', 'echo'])).toMatchObject({ options: { httpAnswer: 'echo' } });
    expect(parseSampleArgs(['--name', 'x', '--listen', 'a:1'], { HTTP_ANSWER: 'echo' })).toMatchObject({ options: { httpAnswer: 'echo' } });
  });

  it('--help', () => expect(parseSampleArgs(['-h'])).toEqual({ help: true }));
});
