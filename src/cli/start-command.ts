import dgram from 'node:dgram';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigFileError, readConfigFile } from '../settings/config-file.js';
import {
  addSettingsOptions,
  COORDINATOR_SETTINGS,
  DEFAULT_SETTINGS,
  formatConfig,
  resolveSettings,
  SettingsError,
  validateSettings,
  type CoordinatorSettings,
  type Resolution,
} from '../settings/index.js';
import { closeSocket } from '../net/udp.js';
import type { Coordinator } from '../main.js';

/**
 * What `oscport start` says on stderr once it listens, beside its log on stdout: where to look at
 * the studio [PROTOCOL §17, §18]. Nothing when the HTTP server is off.
 */
export function startLines(http: Coordinator['http']): string {
  if (http === null) return '';
  return [`view      ${http.url}/view`, `OSCQuery  ${http.url}/`, `metrics   ${http.url}/metrics`].map((line) => `${line}\n`).join('');
}

/** Runs the coordinator in the foreground with settings already checked. */
export type RunCoordinator = (settings: CoordinatorSettings) => Promise<void>;

/** `oscport start`: settings from flags, variables, a config file and the defaults, checked before `run` gets them. */
export function addStartCommand(program: Command, run: RunCoordinator): void {
  const start = program.command('start').description('run the coordinator in the foreground (Ctrl-C or SIGTERM stops it)');
  const startOptions = addSettingsOptions(start, COORDINATOR_SETTINGS, process.env);
  start.action(async () => {
    const { configFile, printConfig, flags } = startOptions();
    const configPath = configFile === undefined ? undefined : resolve(configFile);
    const resolution = resolveSettings(COORDINATOR_SETTINGS, {
      env: process.env,
      flags,
      configFile: configPath === undefined ? undefined : { path: configPath, settings: readConfigFile(configPath) },
    });
    // What no single setting can say (the pool, Atlas ids and hosts) is checked before either.
    const settings = validateSettings({ ...DEFAULT_SETTINGS, ...resolution.settings });
    if (printConfig) {
      process.stdout.write(formatConfig(resolution));
      return;
    }
    await checkHostIsLocal(settings.host, resolution, configPath);
    await run(settings);
  });
}

/**
 * A host the coordinator cannot bind because it is no address of this machine (or no address at
 * all) is a bad setting, named where it was given: a usage error, not a failure to start.
 */
async function checkHostIsLocal(host: string, resolution: Resolution<CoordinatorSettings>, configPath: string | undefined): Promise<void> {
  const reason = await whyNotLocal(host);
  if (reason === undefined) return;
  const given = resolution.resolved.find(({ placed }) => placed.configKey === 'host');
  if (given?.source === 'config' && configPath !== undefined) throw new ConfigFileError(configPath, `host: ${reason}`);
  const name = given?.source === 'env' ? given.placed.env : given?.source === 'flag' ? given.placed.flag : undefined;
  throw new SettingsError(name ?? 'host', reason);
}

/** Binds `host` on any port for a moment; says why that cannot work, or undefined when it can (or fails for another reason). */
async function whyNotLocal(host: string): Promise<string | undefined> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  const code = await new Promise<string | undefined>((settle) => {
    socket.once('error', (err: NodeJS.ErrnoException) => settle(err.code));
    socket.bind({ address: host, port: 0, exclusive: true }, () => settle(undefined));
  });
  await closeSocket(socket);
  switch (code) {
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine`;
    case 'ENOTFOUND':
      return `"${host}" is neither an IPv4 address nor a known host name`;
    case 'EAI_AGAIN':
      return `"${host}" cannot be looked up now (DNS is not answering): give an IPv4 address`;
    case 'EINVAL':
      return `"${host}" is not an IPv4 address`;
    default:
      return undefined;
  }
}
