import type { Command, CommandResult, CommandRunner } from '../command-runner.js';

/** A scripted answer for the commands whose argv starts with `argvPrefix`. */
export interface ScriptedResponse {
  readonly argvPrefix: readonly string[];
  readonly result: Partial<CommandResult> | ((command: Command) => Partial<CommandResult>);
}

/**
 * A CommandRunner that runs nothing: it records every command and answers from a script
 * (first matching prefix wins; otherwise exit 0 with empty output). For unit tests of code
 * that plans and sequences commands.
 */
export class RecordingCommandRunner implements CommandRunner {
  readonly commands: Command[] = [];
  private readonly script: ScriptedResponse[];

  constructor(script: readonly ScriptedResponse[] = []) {
    this.script = [...script];
  }

  /** Adds answers; later calls take precedence over earlier ones. */
  respond(argvPrefix: readonly string[], result: ScriptedResponse['result']): this {
    this.script.unshift({ argvPrefix, result });
    return this;
  }

  run(command: Command): Promise<CommandResult> {
    this.commands.push(command);
    const match = this.script.find((entry) => entry.argvPrefix.every((arg, i) => command.argv[i] === arg));
    const answer = typeof match?.result === 'function' ? match.result(command) : match?.result;
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0, ...answer });
  }

  /** The recorded commands as shell-like lines (`argv…`, input omitted), for readable assertions. */
  lines(): string[] {
    return this.commands.map((command) => command.argv.join(' '));
  }
}
