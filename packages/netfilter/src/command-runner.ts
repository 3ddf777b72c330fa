import { execFile } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import { constants as osConstants } from 'node:os';
import { MeshError } from '@mesh/errors';

/** One command: argv run inside `netns` (when given), `input` written to its stdin. */
export interface Command {
  readonly argv: readonly string[];
  readonly netns?: string;
  readonly input?: string;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/**
 * Runs commands. Never throws for a non-zero exit: callers decide, because "already absent" is
 * an expected answer for the idempotent executor. Spawn failures (binary missing) do throw.
 */
export interface CommandRunner {
  run(command: Command): Promise<CommandResult>;
}

/**
 * Every command the real runner finishes is published here as `CommandEvent`, for apps to log
 * (libraries publish, apps log).
 */
export const COMMAND_CHANNEL_NAME = 'mesh:netfilter:command';
const commandChannel = channel(COMMAND_CHANNEL_NAME);

export interface CommandEvent {
  readonly argv: readonly string[];
  readonly netns: string | undefined;
  readonly exitCode: number;
  readonly durationMs: number;
}

/** Output larger than this is a bug in what we asked for (a full iptables-save is ~KBs). */
const MAX_COMMAND_OUTPUT_BYTES = 64 * 1024 * 1024;

/** The real runner: `ip netns exec <netns> argv…` through execFile, no shell. */
export function createCommandRunner(): CommandRunner {
  return {
    run(command) {
      const [file, ...args] = command.netns ? ['ip', 'netns', 'exec', command.netns, ...command.argv] : command.argv;
      if (!file) {
        return Promise.reject(new MeshError('NETFILTER_ERR_COMMAND_FAILED', 'empty command'));
      }
      const startedAt = performance.now();
      const publish = (exitCode: number) => {
        if (commandChannel.hasSubscribers) {
          const event: CommandEvent = { argv: command.argv, netns: command.netns, exitCode, durationMs: performance.now() - startedAt };
          commandChannel.publish(event);
        }
      };
      return new Promise((resolve, reject) => {
        const child = execFile(file, args, { maxBuffer: MAX_COMMAND_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout, stderr) => {
          const failure = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
          if (failure && typeof failure.code === 'string') {
            // A system error code means the process never ran (ENOENT: binary missing) or its
            // output overflowed; either way there is no exit status to hand back.
            reject(
              new MeshError('NETFILTER_ERR_COMMAND_FAILED', `cannot run ${file}: ${failure.message}`, {
                cause: failure,
                context: { argv: command.argv, netns: command.netns },
                hint: 'install iptables, ipset and iproute2 (Debian: apt-get install -y iptables ipset iproute2) and run as root',
              }),
            );
            return;
          }
          if (failure?.signal) {
            // Shell convention: 128 + signal number.
            const exitCode = 128 + (osConstants.signals[failure.signal] ?? 0);
            publish(exitCode);
            resolve({ stdout, stderr: `${stderr}killed by ${failure.signal}\n`, exitCode });
            return;
          }
          const exitCode = typeof failure?.code === 'number' ? failure.code : 0;
          publish(exitCode);
          resolve({ stdout, stderr, exitCode });
        });
        child.stdin?.on('error', () => {
          // The process may exit before reading its input; its exit code tells the story.
        });
        child.stdin?.end(command.input ?? '');
      });
    },
  };
}

/** Runs a command that must succeed; a non-zero exit becomes NETFILTER_ERR_COMMAND_FAILED. */
export async function runChecked(runner: CommandRunner, command: Command): Promise<CommandResult> {
  const result = await runner.run(command);
  if (result.exitCode !== 0) {
    throw new MeshError(
      'NETFILTER_ERR_COMMAND_FAILED',
      `\`${command.argv.join(' ')}\`${command.netns ? ` in netns ${command.netns}` : ''} exited ${result.exitCode}: ${result.stderr.trim()}`,
      { context: { argv: command.argv, netns: command.netns, exitCode: result.exitCode, stderr: result.stderr, input: command.input } },
    );
  }
  return result;
}
