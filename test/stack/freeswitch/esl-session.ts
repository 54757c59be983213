/**
 * What inbound (8021) and outbound (socket application) event-socket connections share: command framing,
 * event subscriptions and filters, api/bgapi, sendmsg, exit.
 */
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  apiResponse, commandReply, CommandReader, disconnectNotice, eventFrame, header,
  type EslCommand, type EventFormat, type FsEvent,
} from './events';

/** The engine as the event socket sees it. */
export interface EslBackend {
  api(command: string, args: string): Promise<string>;
  /** sendmsg: returns the reply text (`+OK` or `-ERR …`) */
  sendmsg(uuid: string | undefined, cmd: EslCommand): string;
  backgroundJob(jobUuid: string, command: string, args: string, result: string): FsEvent;
  log(line: string): void;
}

const FORMATS: readonly string[] = ['json', 'plain', 'xml'];

export abstract class EslSession {
  private readonly reader = new CommandReader();
  private format: EventFormat = 'plain';
  private readonly events = new Set<string>();
  private readonly customSubclasses = new Set<string>();
  private allEvents = false;
  /**
   * Events taken out of ALL by `nixevent` (mod_event_socket then clears event_list[ALL] and sets every other type,
   * so CUSTOM events need a subscribed subclass again); kept as the exceptions to allEvents.
   */
  private readonly nixedFromAll = new Set<string>();
  private readonly filters: Array<[string, string]> = [];
  protected closed = false;
  /** commands are answered strictly in order, even when several arrive in one chunk */
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly socket: Socket, protected readonly backend: EslBackend) {
    socket.on('data', (chunk: Buffer) => {
      for (const cmd of this.reader.push(chunk)) this.chain = this.chain.then(() => this.dispatch(cmd));
    });
    socket.on('close', () => { this.closed = true; this.onClose(); });
    socket.on('error', () => undefined);
  }

  /** Session-specific commands (auth, connect, linger…); return undefined to fall through to the common set. */
  protected abstract special(cmd: EslCommand, verb: string, rest: string): Promise<string | undefined> | string | undefined;
  protected onClose(): void {}
  /** Outbound sessions bound to a channel: sendmsg without uuid and `myevents` use it. */
  protected boundUuid(): string | undefined { return undefined; }

  write(data: string): void {
    if (!this.closed && this.socket.writable) this.socket.write(data);
  }

  /** FreeSWITCH closes the socket after the goodbye notice. */
  protected goodbye(controlledUuid?: string, replyFirst?: string): void {
    if (this.closed) return;
    this.write((replyFirst ?? '') + disconnectNotice(controlledUuid));
    this.closed = true;
    this.socket.end();
    this.socket.destroySoon?.();
  }

  // ---- events ------------------------------------------------------------------------------------------------

  /**
   * mod_event_socket's parsing of `event` and `nixevent`: names may carry the SWITCH_EVENT_ prefix; once CUSTOM has
   * been seen, every further token is a subclass (so fsmrf's trailing BACKGROUND_JOB becomes a CUSTOM subclass,
   * exactly as in FreeSWITCH).
   */
  private static eventNames(tokens: readonly string[]): { names: string[]; subclasses: string[] } {
    const names: string[] = [];
    const subclasses: string[] = [];
    for (const raw of tokens) {
      if (names.includes('CUSTOM')) subclasses.push(raw);
      else names.push(raw.replace(/^SWITCH_EVENT_/, ''));
    }
    return { names, subclasses };
  }

  subscribe(format: EventFormat, tokens: string[]): void {
    this.format = format;
    const { names, subclasses } = EslSession.eventNames(tokens);
    for (const name of names) {
      if (name === 'ALL') { this.allEvents = true; this.nixedFromAll.clear(); } else { this.events.add(name); this.nixedFromAll.delete(name); }
    }
    for (const s of subclasses) this.customSubclasses.add(s);
  }

  /** Event subscription plus filters (any matching filter lets the event through). */
  wants(ev: FsEvent): boolean {
    if (this.closed) return false;
    const subclassOk = ev.name !== 'CUSTOM' || this.customSubclasses.has(ev.subclass ?? '');
    const subscribed = this.allEvents
      ? this.nixedFromAll.size === 0 || (!this.nixedFromAll.has(ev.name) && subclassOk)
      : this.events.has(ev.name) && subclassOk;
    if (!subscribed) return false;
    if (!this.filters.length) return true;
    return this.filters.some(([k, v]) => ev.get(k) === v);
  }

  deliver(ev: FsEvent): void {
    if (this.wants(ev)) this.write(eventFrame(ev, this.format));
  }

  // ---- commands ------------------------------------------------------------------------------------------------

  private async dispatch(cmd: EslCommand): Promise<void> {
    if (this.closed) return;
    const line = cmd.line;
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
    const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
    try {
      if (verb === 'exit' || verb === '...') { this.goodbye(this.boundUuid(), commandReply('+OK bye')); return; }
      const special = await this.special(cmd, verb, rest);
      if (special !== undefined) { if (special) this.write(special); return; }
      this.write(await this.common(cmd, verb, rest));
    } catch (err) {
      this.backend.log(`[esl] ${line}: ${(err as Error).stack}`);
      this.write(commandReply(`-ERR ${(err as Error).message}`));
    }
  }

  private async common(cmd: EslCommand, verb: string, rest: string): Promise<string> {
    switch (verb) {
      case 'event': {
        const [format, ...names] = rest.split(/\s+/);
        if (!FORMATS.includes(format)) return commandReply('-ERR invalid format');
        this.subscribe(format as EventFormat, names.length ? names : ['ALL']);
        return commandReply(`+OK event listener enabled ${format}`);
      }
      case 'nixevent': {
        // mod_event_socket: ALL clears every type; a type out of ALL turns ALL into "every other type"; after
        // CUSTOM the tokens are subclasses taken out of the hash; no token at all: -ERR no keywords supplied
        const { names, subclasses } = EslSession.eventNames(rest.split(/\s+/).filter(Boolean));
        for (const name of names) {
          if (name === 'CUSTOM') continue;
          if (name === 'ALL') { this.allEvents = false; this.nixedFromAll.clear(); this.events.clear(); continue; }
          if (this.allEvents) this.nixedFromAll.add(name);
          this.events.delete(name);
        }
        for (const s of subclasses) this.customSubclasses.delete(s);
        if (names.length === 0) return commandReply('-ERR no keywords supplied');
        return commandReply('+OK events nixed');
      }
      case 'noevents':
        this.events.clear(); this.customSubclasses.clear(); this.allEvents = false; this.nixedFromAll.clear();
        return commandReply('+OK no longer listening for events');
      case 'filter': {
        const [a, b, ...c] = rest.split(/\s+/);
        if (a === 'delete') {
          const value = c.join(' ');
          for (let i = this.filters.length - 1; i >= 0; i--) {
            if (b === 'all' || (this.filters[i][0] === b && (!value || this.filters[i][1] === value))) this.filters.splice(i, 1);
          }
          return commandReply(`+OK filter deleted. [${b}]=[${value}]`);
        }
        const value = [b, ...c].join(' ');
        if (!a || !b) return commandReply('-ERR invalid syntax');
        this.filters.push([a, value]);
        return commandReply(`+OK filter added. [${a}]=[${value}]`);
      }
      case 'api': {
        const sp = rest.indexOf(' ');
        const command = sp < 0 ? rest : rest.slice(0, sp);
        const args = sp < 0 ? '' : rest.slice(sp + 1);
        const out = await this.backend.api(command, args);
        // api_exec in mod_event_socket: an empty result (e.g. global_getvar of an unset variable) becomes "-ERR no reply"
        return apiResponse(out === '' ? '-ERR no reply\n' : out);
      }
      case 'bgapi': {
        const jobUuid = header(cmd.headers, 'Job-UUID') ?? randomUUID();
        const sp = rest.indexOf(' ');
        const command = sp < 0 ? rest : rest.slice(0, sp);
        const args = sp < 0 ? '' : rest.slice(sp + 1);
        // runs after the reply has been written, like FreeSWITCH's job thread
        setImmediate(() => {
          void this.backend.api(command, args).then((result) => this.deliver(this.backend.backgroundJob(jobUuid, command, args, result)));
        });
        return commandReply(`+OK Job-UUID: ${jobUuid}`, [['Job-UUID', jobUuid]]);
      }
      case 'sendmsg':
        return commandReply(this.backend.sendmsg(rest || this.boundUuid(), cmd));
      case 'sendevent':
        return commandReply(`+OK ${randomUUID()}`);
      case 'log':
        return commandReply(`+OK log level ${rest || 'debug'} [7]`);
      case 'nolog':
        return commandReply('+OK no longer logging');
      case 'divert_events':
        return commandReply(rest === 'on' ? '+OK events diverted' : '+OK events not diverted');
      case 'resume':
        return commandReply('+OK');
      default:
        return commandReply('-ERR command not found');
    }
  }
}
