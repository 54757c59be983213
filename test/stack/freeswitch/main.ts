/**
 * CLI: one media engine.
 *   tsx test/stack/freeswitch/main.ts [--sip-port 5080] [--esl-port 8021] [--password ClueCon]
 *        [--rtp-min 16384] [--rtp-max 32767] [--heartbeat-ms 20000] [--t1-ms 500] [--quiet]
 * Environment: FS_SIP_PORT, FS_ESL_PORT, FS_PASSWORD, FS_RTP_MIN, FS_RTP_MAX, FS_HEARTBEAT_MS, FS_T1_MS.
 */
import { startMediaEngine } from './index';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function num(flagName: string, env: string, dflt: number): number {
  const raw = flag(flagName) ?? process.env[env];
  const n = raw === undefined ? dflt : parseInt(raw, 10);
  if (!Number.isFinite(n)) throw new Error(`invalid --${flagName}/${env}: ${raw}`);
  return n;
}

async function main(): Promise<void> {
  const quiet = process.argv.includes('--quiet');
  const engine = await startMediaEngine({
    sipPort: num('sip-port', 'FS_SIP_PORT', 5080),
    eslPort: num('esl-port', 'FS_ESL_PORT', 8021),
    password: flag('password') ?? process.env.FS_PASSWORD ?? 'ClueCon',
    rtpPortMin: num('rtp-min', 'FS_RTP_MIN', 16384),
    rtpPortMax: num('rtp-max', 'FS_RTP_MAX', 32767),
    heartbeatIntervalMs: num('heartbeat-ms', 'FS_HEARTBEAT_MS', 20000),
    t1Ms: num('t1-ms', 'FS_T1_MS', 500),
    log: quiet ? undefined : (l) => console.log(l),
  });
  console.log(`media engine: SIP udp 127.0.0.1:${engine.sipPort}, ESL 127.0.0.1:${engine.eslPort}`);
  const shutdown = (): void => { void engine.stop().then(() => process.exit(0)); };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
