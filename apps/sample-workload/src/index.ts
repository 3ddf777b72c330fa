export { startSampleWorkload, SERVER_FIRST_DELAY_MS, UPSTREAM_TIMEOUT_MS, type HttpAnswer, type SampleWorkload, type SampleWorkloadOptions } from './server.js';
export { parseSampleArgs, SAMPLE_HELP_TEXT, type SampleArgs } from './args.js';
export { formatHttpReport, formatTcpBanner, httpReportJson, echoBasicJson, canonicalHeaderName, type EchoRequest, type HttpReport, type UpstreamResult, type WorkloadIdentity } from './report.js';
export { requestBehaviour, parseGoDuration, echoSetHeaders, RetryCounters, type Behaviour, type BehaviourResult } from './behaviour.js';
export { acceptKey, newKey, encodeFrame, FrameParser, ClientConnectionReader, OPCODE, type Frame } from './websocket.js';
export { sniffProtocol, type Sniffed } from './sniff.js';
