/**
 * Shared steps of the fault drills (test/e2e/drills.test.ts, fast; test/drills/*.test.ts, long):
 * callers held open with the raw SIP sender, customer INVITEs counted per X-Callback-Id from the
 * trunk UAS's SIPp message log, and the "accounted for" checks on Redis.
 */
import assert from 'node:assert/strict';
import type { CallbackRequest } from '../../src/domain/callback-request';
import { keys } from '../../src/store/keys';
import { RawSip, type Dialog } from '../support/raw-sip';
import { describeResult, runSipp, startSipp, type SippProcess, type SippResult } from '../support/sipp';
import { eventually, type ServiceProcess, type Stack } from '../support/stack';
import type { StateProbe } from '../support/state';

export const MCN = '+74950000000';
export const FINAL = ['completed', 'failed', 'expired', 'cancelled'];

export function ok(r: SippResult): void {
  assert.equal(r.exitCode, 0, describeResult(r));
}

export interface HeldCaller {
  number: string;
  sip: RawSip;
  dialog: Dialog;
  callId: string;
  /** the instance the engine handed the INVITE to */
  instance: ServiceProcess | undefined;
  close(): Promise<void>;
}

/** A caller answered and left waiting in the queue (hangs up only when told). */
export async function holdCaller(stack: Stack, number: string, transport: 'udp' | 'tcp' = 'udp'): Promise<HeldCaller> {
  const sip = await RawSip.open(transport, stack.sipTarget);
  const r = await sip.call({ service: MCN, from: `<sip:${number}@127.0.0.1>`, timeoutMs: 20_000 });
  if (r.final.status !== 200 || !r.dialog) {
    await sip.close();
    throw new Error(`caller ${number} not answered: ${r.final.startLine}`);
  }
  const dialog = r.dialog;
  const instance = await eventually(async () => stack.services.find((s) => s.proc.exitCode === null && s.output().includes(r.callId)), 5000, `the instance serving ${r.callId}`).catch(() => undefined);
  return {
    number,
    sip,
    dialog,
    callId: r.callId,
    instance,
    async close() {
      await dialog.bye(2000).catch(() => undefined);
      await sip.close();
    },
  };
}

/** Presses 1 as SIP INFO application/dtmf-relay; the INFO must be answered 200. */
export async function press1(c: HeldCaller): Promise<void> {
  const r = await c.dialog.info('application/dtmf-relay', 'Signal=1\r\nDuration=160\r\n', 5000);
  assert.equal(r?.status, 200, `INFO answered 200 for ${c.number}: ${r?.startLine ?? 'no answer'}`);
}

export async function requestOf(probe: StateProbe, number: string): Promise<CallbackRequest | undefined> {
  return (await probe.requestsFor(number))[0];
}

/** Waits for the request of `number` to be stored (polls Redis every few ms, to kill right after). */
export async function storedRequest(probe: StateProbe, number: string, timeoutMs = 10_000): Promise<CallbackRequest> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await requestOf(probe, number).catch(() => undefined);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(`no callback request stored for ${number} within ${timeoutMs} ms`);
}

export function finalOf(probe: StateProbe, number: string, timeoutMs: number): Promise<CallbackRequest> {
  return eventually(async () => {
    const r = await requestOf(probe, number);
    return r && FINAL.includes(r.status) ? r : undefined;
  }, timeoutMs, `a final status for ${number}`);
}

/** Customer INVITEs seen by the trunk UAS, counted per X-Callback-Id by Call-ID (retransmissions share one). */
export function customerCalls(messagesLog: string): Map<string, Set<string>> {
  const byId = new Map<string, Set<string>>();
  for (const m of messagesLog.matchAll(/^INVITE sip:[^\n]*\n(?:[^\n]+\n)*/gm)) {
    const block = m[0];
    const callId = /^Call-ID: (\S+)/m.exec(block)?.[1];
    const cb = /^X-Callback-Id: (\S+)/m.exec(block)?.[1];
    if (!callId || !cb) continue;
    let s = byId.get(cb);
    if (!s) byId.set(cb, (s = new Set()));
    s.add(callId);
  }
  return byId;
}

/**
 * No request dialled twice: for each request, the customer INVITEs (by Call-ID) equal its attempts, attempts never overlap, and at most one was answered.
 */
export function assertDialledOnce(requests: CallbackRequest[], messagesLog: string, expectInvites?: Record<string, number>): void {
  const calls = customerCalls(messagesLog);
  for (const r of requests) {
    const invites = calls.get(r.id)?.size ?? 0;
    // an attempt is made when the customer is dialled (employee rings are kept apart)
    const dialled = r.attempts.length;
    assert.equal(invites, dialled, `request ${r.id} (${r.callerNumber}): customer INVITEs ${invites} = attempts ${dialled}\n${JSON.stringify(r.attempts)}`);
    assert.ok(r.attempts.filter((a) => a.outcome === 'answered').length <= 1, `request ${r.id} answered at most once`);
    for (let i = 1; i < r.attempts.length; i++) assert.ok(r.attempts[i]!.startedAt >= (r.attempts[i - 1]!.endedAt ?? Infinity), `attempts of ${r.id} never overlap`);
    const want = expectInvites?.[r.id];
    if (want !== undefined) assert.equal(invites, want, `request ${r.id}: ${want} customer INVITE(s)`);
  }
  const known = new Set(requests.map((r) => r.id));
  for (const id of calls.keys()) assert.ok(known.has(id), `customer INVITE for an unexpected request ${id}`);
}

export async function readyz(baseUrl: string): Promise<number> {
  try {
    return (await fetch(`${baseUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}

export async function waitReady(s: ServiceProcess, timeoutMs = 20_000): Promise<void> {
  await eventually(async () => (await readyz(s.baseUrl)) === 200, timeoutMs, `/readyz 200 on ${s.instanceId}`);
}

export async function abandonedEvents(probe: StateProbe): Promise<number> {
  return (await probe.events()).filter((e) => e.type === 'abandoned').length;
}

/** Line entries of callers (kind caller) still in the department's line. */
export async function callerEntries(probe: StateProbe, dept = 'support'): Promise<string[]> {
  const ids = await probe.redis.zrange(keys.line(probe.accountId, dept), 0, -1);
  return ids.filter((id) => id.startsWith('c:'));
}

/** Waits until no caller entry is left in the line (dead instances' callers recovered as abandoned). */
export async function lineDrained(probe: StateProbe, timeoutMs: number): Promise<void> {
  await eventually(async () => (await callerEntries(probe)).length === 0, timeoutMs, 'the department line to hold no caller');
}

/** A complete new call through the service: SIPp presses 1 by INFO and gets the service's BYE. */
export async function newCallSucceeds(stack: Stack, number: string): Promise<void> {
  const r = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 40_000 });
  ok(r);
}

export interface Phones {
  employee: SippProcess;
  customer: SippProcess;
  stop(): Promise<{ employee: SippResult; customer: SippResult }>;
}

/** Employee 101 answers callbacks, the trunk customer answers (PAI = the multichannel number). */
export async function answeringPhones(stack: Stack, calls = 50, employeePort = stack.employeePorts['101']!): Promise<Phones> {
  const employee = startSipp({ scenario: 'employee-answer.xml', localPort: employeePort, rtpEcho: true, calls, limit: 20, pauseMs: 60_000, timeoutMs: 600_000 });
  const customer = startSipp({ scenario: 'customer-answer.xml', localPort: stack.trunkPort, rtpEcho: true, calls, limit: 20, keys: { pai: MCN }, pauseMs: 300, timeoutMs: 600_000 });
  await Promise.all([employee.ready, customer.ready]);
  return {
    employee,
    customer,
    async stop() {
      const [e, c] = await Promise.all([employee.stop(), customer.stop()]);
      return { employee: e, customer: c };
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
