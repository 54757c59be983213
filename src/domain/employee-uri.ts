/**
 * Where an employee's phone may be rung: the one rule for employee SIP URIs, applied when the API
 * or a provisioning file writes an employee and again right before an employee INVITE is sent.
 *
 * An account token sets its employees' URIs, so a URI is untrusted input that makes the service
 * send an INVITE, with the caller's number in From, wherever it points. Without this rule it could
 * point at the outbound trunk (toll fraud: a number the number policy refuses, dialled at the
 * service's expense) or at the service's own engines (drachtio's admin port, FreeSWITCH's event
 * socket, Redis, the HTTP API), or carry `?headers` and URI parameters (maddr, transport games)
 * that make the request go elsewhere or carry more than the service wrote. So a URI is accepted
 * only when:
 *
 * - it is `sip:` or `sips:`, an optional user part of plain characters (no password, no escapes),
 *   an IPv4 address or a host name, an optional port, and no parameter but `transport=udp|tcp|tls`;
 *   never `?headers`;
 * - its host is one of the allowed hosts (IPv4 addresses, CIDR blocks, host names, `*.domain`);
 * - its host and port (the default port of its scheme and transport when none is written) is none of
 *   the blocked targets. A loopback or wildcard address (127.0.0.0/8, 0.0.0.0, localhost) in a
 *   target stands for every loopback address: 127.0.0.2:5090 reaches a trunk listening on
 *   0.0.0.0:5090 as surely as 127.0.0.1:5090 does.
 *
 * Pure: no I/O, no DNS. Host names are compared as written, which is why the allowed hosts, not the
 * blocked targets, are the real fence: they should name the phones' networks and nothing else.
 */

export interface BlockedTarget {
  /** IPv4 address or host name, lower case */
  host: string;
  port: number;
  /** what listens there, for logs (e.g. "the outbound trunk") */
  what: string;
}

export type HostPattern =
  | { kind: 'cidr'; network: number; mask: number; source: string }
  | { kind: 'name'; name: string; source: string }
  | { kind: 'suffix'; suffix: string; source: string };

export interface EmployeeUriRules {
  allowedHosts: readonly HostPattern[];
  /** grows at run time as the engines report their SIP listeners (blockTargets) */
  blocked: BlockedTarget[];
}

export type EmployeeUriVerdict = { ok: true } | { ok: false; reason: string; target?: BlockedTarget };

const MAX_URI_LENGTH = 256;
/** unreserved characters of RFC 3261 plus `+` (no escapes, no `;` `?` `&` `=` `,` `$` `/` `:`) */
const USER = /^[A-Za-z0-9\-_.!~*'()+]{1,64}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TRANSPORTS = new Set(['udp', 'tcp', 'tls']);

/** a.b.c.d with octets 0-255 written without leading zeros, as a 32-bit number */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** A DNS host name: letters, digits and hyphens in dot-separated labels, the last starting with a letter. */
export function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.split('.');
  return labels.every((l) => LABEL.test(l)) && /^[A-Za-z]/.test(labels[labels.length - 1]!);
}

/** An allowed-host entry: a.b.c.d, a.b.c.d/n, a host name, or *.domain. Throws naming what is wrong. */
export function parseHostPattern(source: string): HostPattern {
  const cidr = /^([^/]+)\/(\d{1,2})$/.exec(source);
  if (cidr) {
    const ip = parseIpv4(cidr[1]!);
    const bits = Number(cidr[2]);
    if (ip === undefined || bits > 32) throw new Error(`${JSON.stringify(source)} is not an IPv4 CIDR block`);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { kind: 'cidr', network: (ip & mask) >>> 0, mask, source };
  }
  const ip = parseIpv4(source);
  if (ip !== undefined) return { kind: 'cidr', network: ip, mask: 0xffffffff, source };
  if (source.startsWith('*.') && isHostName(source.slice(2))) return { kind: 'suffix', suffix: source.slice(1).toLowerCase(), source };
  if (isHostName(source)) return { kind: 'name', name: source.toLowerCase(), source };
  throw new Error(`${JSON.stringify(source)} is not an IPv4 address, CIDR block, host name or *.domain`);
}

/** `host:port` of a blocked target (port required). Throws naming what is wrong. */
export function parseTarget(source: string, what: string): BlockedTarget {
  const m = /^([^:]+):(\d{1,5})$/.exec(source);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535) || (parseIpv4(m[1]!) === undefined && !isHostName(m[1]!))) {
    throw new Error(`${JSON.stringify(source)} is not host:port`);
  }
  return { host: m[1]!.toLowerCase(), port, what };
}

export function compileEmployeeUriRules(input: { allowedHosts: readonly string[]; blocked: readonly BlockedTarget[] }): EmployeeUriRules {
  return { allowedHosts: input.allowedHosts.map(parseHostPattern), blocked: input.blocked.map((t) => ({ ...t, host: t.host.toLowerCase() })) };
}

/** Adds targets learned at run time (e.g. drachtio's SIP listeners when it connects); returns those that were new. */
export function blockTargets(rules: EmployeeUriRules, targets: readonly BlockedTarget[]): BlockedTarget[] {
  const added: BlockedTarget[] = [];
  for (const t of targets) {
    const host = t.host.toLowerCase();
    if (rules.blocked.some((b) => b.host === host && b.port === t.port)) continue;
    const n = { ...t, host };
    rules.blocked.push(n);
    added.push(n);
  }
  return added;
}

/**
 * drachtio's SIP listeners from its `authenticate` reply (the hostport list srf's 'connect' event
 * carries, e.g. `tcp/127.0.0.1:5060,udp/127.0.0.1:5060`, ../shared/reference/drachtio/D0); entries that
 * are not transport/IPv4-or-name:port (IPv6) are skipped, since no employee URI can name them anyway.
 */
export function drachtioSipTargets(hostports: string | undefined): BlockedTarget[] {
  const out: BlockedTarget[] = [];
  for (const entry of (hostports ?? '').split(',')) {
    const m = /^(?:[a-z]+\/)?([^/:\s]+):(\d{1,5})$/i.exec(entry.trim());
    if (!m) continue;
    const port = Number(m[2]);
    if (port < 1 || port > 65535 || (parseIpv4(m[1]!) === undefined && !isHostName(m[1]!))) continue;
    out.push({ host: m[1]!.toLowerCase(), port, what: `drachtio's SIP listener (${entry.trim()})` });
  }
  return out;
}

function inCidr(ip: number, p: { network: number; mask: number }): boolean {
  return ((ip & p.mask) >>> 0) === p.network;
}

/** Loopback or wildcard: every such address reaches a listener bound to the loopback or to 0.0.0.0. */
function isLocal(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const ip = parseIpv4(host);
  return ip !== undefined && (ip >>> 24 === 127 || ip === 0);
}

function hostAllowed(host: string, patterns: readonly HostPattern[]): boolean {
  const ip = parseIpv4(host);
  return patterns.some((p) => {
    if (p.kind === 'cidr') return ip !== undefined && inCidr(ip, p);
    if (ip !== undefined) return false;
    return p.kind === 'name' ? host === p.name : host.endsWith(p.suffix);
  });
}

const refuse = (reason: string, target?: BlockedTarget): EmployeeUriVerdict => (target ? { ok: false, reason, target } : { ok: false, reason });

/** Whether the service may send an employee INVITE to `uri`; when not, why (a sentence for the API's error). */
export function checkEmployeeUri(uri: string, rules: EmployeeUriRules): EmployeeUriVerdict {
  if (uri.length > MAX_URI_LENGTH) return refuse(`must be at most ${MAX_URI_LENGTH} characters`);
  const scheme = /^(sips?):/.exec(uri);
  if (!scheme) return refuse('must be a sip: or sips: URI');
  if (uri.includes('?')) return refuse('must not carry headers (?…)');
  const rest = uri.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  const user = at >= 0 ? rest.slice(0, at) : undefined;
  if (user !== undefined && !USER.test(user)) return refuse('the user part may hold only letters, digits and - _ . ! ~ * \' ( ) + (no password, escapes or parameters)');
  const [hostport = '', ...params] = rest.slice(at + 1).split(';');
  if (hostport.startsWith('[')) return refuse('IPv6 hosts are not supported');
  const hp = /^([^:]*)(?::(\d{1,5}))?$/.exec(hostport);
  const rawHost = hp?.[1] ?? '';
  if (!hp || (parseIpv4(rawHost) === undefined && !isHostName(rawHost))) return refuse('the host must be an IPv4 address or a host name');
  const host = rawHost.toLowerCase();
  let port: number | undefined;
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (!(port >= 1 && port <= 65535) || /^0/.test(hp[2])) return refuse('the port must be 1-65535');
  }
  let transport: string | undefined;
  for (const p of params) {
    const [name = '', value, ...more] = p.split('=');
    if (name.toLowerCase() !== 'transport') return refuse(`URI parameter ${JSON.stringify(name)} is not allowed (only transport=udp|tcp|tls)`);
    if (transport !== undefined) return refuse('transport may be given once');
    if (value === undefined || more.length > 0 || !TRANSPORTS.has(value.toLowerCase())) return refuse('transport must be udp, tcp or tls');
    transport = value.toLowerCase();
  }
  const secure = scheme[1] === 'sips';
  if (secure && transport !== undefined && transport !== 'tls') return refuse('a sips: URI must use transport tls');
  const ip = parseIpv4(host);
  if (ip !== undefined && (ip >>> 24 === 0 || ip >>> 28 >= 14)) return refuse('the host must be a unicast address (not 0.x, multicast or broadcast)');
  if (!hostAllowed(host, rules.allowedHosts)) return refuse(`host ${host} is not one of the hosts employee phones may be reached at (employees.allowedHosts)`);
  const effectivePort = port ?? (secure || transport === 'tls' ? 5061 : 5060);
  const hit = rules.blocked.find((t) => t.port === effectivePort && (t.host === host || (isLocal(t.host) && isLocal(host))));
  if (hit) return refuse(`must not point at the outbound trunk or at the service's own engines (${host}:${effectivePort})`, hit);
  return { ok: true };
}
