export { startSampleWorkload, SERVER_FIRST_DELAY_MS, UPSTREAM_TIMEOUT_MS, type SampleWorkload, type SampleWorkloadOptions } from './server.js';
export { parseSampleArgs, SAMPLE_HELP_TEXT, type SampleArgs } from './args.js';
export { formatHttpReport, formatTcpBanner, httpReportJson, type HttpReport, type UpstreamResult, type WorkloadIdentity } from './report.js';
export { sniffProtocol, type Sniffed } from './sniff.js';
