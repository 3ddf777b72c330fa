// A workload for the mesh benchmark, started inside a pod's network namespace: 9080 echoes,
// 9081 swallows everything and answers the byte count when the client half-closes.
import { countingSink, echoServer } from '../../../scripts/bench-lib.mjs';

const echo = echoServer();
const sink = countingSink();
echo.listen(9080, '0.0.0.0', () => sink.listen(9081, '0.0.0.0', () => process.stdout.write('ready\n')));
