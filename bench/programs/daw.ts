import { DeployedPlugin } from '../../src/simulators/daw/deployed-plugin.js';

/**
 * A DAW of deployed-style AIplayer instances in a process of its own, for the cold-start benchmark:
 *
 *   node daw.js COORDINATOR_PORT RESPONSE_PORT COUNT
 *
 * COUNT instances bind RESPONSE_PORT with SO_REUSEADDR, as every deployed instance does, and
 * report `ready`. On `go` each sends its one request to COORDINATOR_PORT (whether anything
 * listens there or not) and reports `asked`. On `{ type: 'release' }` each gives its port back, and it exits.
 */
const [coordinatorPort, responsePort, count] = process.argv.slice(2).map(Number) as [number, number, number];
const send = (message: object) => process.send!(message);

const plugins = Array.from(
  { length: count },
  (_, n) => new DeployedPlugin({ tempId: `daw-${process.pid}-${n}`, coordinator: { host: '127.0.0.1', port: coordinatorPort }, responsePort, juceBug: true }),
);
// One after another, as a DAW instantiates tracks: the last one bound receives on the shared port.
for (const plugin of plugins) await plugin.start();
process.on('message', async (message: 'go' | { type: 'release' }) => {
  if (message === 'go') {
    // Gone before `asked`: in a cold round nothing listens yet, and none may arrive after the coordinator starts.
    await Promise.all(plugins.map((plugin) => plugin.sendRequest()));
    send({ type: 'asked' });
  } else if (message.type === 'release') {
    await Promise.all(plugins.map(async (plugin) => (await plugin.release(), await plugin.close())));
    process.exit(0);
  }
});
// A benchmark that stops early leaves no DAW behind.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
