/**
 * CLI: runs one SIP engine (drachtio-server stand-in) until SIGINT/SIGTERM.
 *
 *   tsx test/stack/drachtio/main.ts [--sip-address A] [--sip-port N] [--admin-address A] [--admin-port N]
 *                                   [--secret S] [--t1 MS] [--t2 MS] [--t4 MS] [--verbose]
 * Environment equivalents: SIP_ENGINE_SIP_ADDRESS, SIP_ENGINE_SIP_PORT, SIP_ENGINE_ADMIN_ADDRESS,
 * SIP_ENGINE_ADMIN_PORT, SIP_ENGINE_SECRET, SIP_ENGINE_T1/T2/T4, SIP_ENGINE_VERBOSE=1. Flags win over env.
 * Prints `SIP_PORT=<n>` and `ADMIN_PORT=<n>` once listening.
 */
import { startSipEngine, SipEngineOptions } from './index';

function option(args: string[], flag: string, env: string): string | undefined {
  const i = args.indexOf(flag);
  if (i >= 0 && i + 1 < args.length) return args[i + 1];
  return process.env[env];
}

function numberOption(args: string[], flag: string, env: string): number | undefined {
  const v = option(args, flag, env);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: not a valid number: ${v}`);
  return n;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const verbose = args.includes('--verbose') || process.env.SIP_ENGINE_VERBOSE === '1';
  const opts: SipEngineOptions = {
    sipAddress: option(args, '--sip-address', 'SIP_ENGINE_SIP_ADDRESS'),
    sipPort: numberOption(args, '--sip-port', 'SIP_ENGINE_SIP_PORT'),
    adminAddress: option(args, '--admin-address', 'SIP_ENGINE_ADMIN_ADDRESS'),
    adminPort: numberOption(args, '--admin-port', 'SIP_ENGINE_ADMIN_PORT'),
    secret: option(args, '--secret', 'SIP_ENGINE_SECRET'),
    timers: {
      t1: numberOption(args, '--t1', 'SIP_ENGINE_T1'),
      t2: numberOption(args, '--t2', 'SIP_ENGINE_T2'),
      t4: numberOption(args, '--t4', 'SIP_ENGINE_T4'),
    },
    log: verbose ? (line) => process.stderr.write(`[sip-engine] ${line}\n`) : undefined,
  };
  const engine = await startSipEngine(opts);
  process.stdout.write(`SIP_PORT=${engine.sipPort}\nADMIN_PORT=${engine.adminPort}\n`);
  const shutdown = (): void => {
    engine.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`sip engine failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
