export { RecordingCommandRunner, type ScriptedResponse } from './recording-runner.js';
