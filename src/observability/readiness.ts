/**
 * Whether this instance takes calls: ONE answer for the OPTIONS ping, the INVITE check and
 * GET /readyz. Ready means every dependency is connected (Redis, drachtio, FreeSWITCH: at least one
 * media server of the pool, the calls go to those connected) and the instance is not draining. Draining starts at shutdown (SIGTERM): calls in progress finish, new
 * INVITEs and OPTIONS get 503, and /readyz says 503 with `draining: true` so a load balancer or
 * Kubernetes stops sending traffic before the process exits (as jambonz drains before shutdown).
 */
export type DependencyProbes = Readonly<Record<string, () => boolean>>;

/** One media server of the pool as /readyz shows it. */
export interface MediaServerState {
  name: string;
  connected: boolean;
  /** endpoints this instance has open on it */
  endpoints: number;
}

export interface ReadinessState {
  /** each dependency, connected or not */
  checks: Record<string, boolean>;
  /** the instance is shutting down and takes no new calls */
  draining: boolean;
  /** each media server of the pool (the freeswitch check is true while one is connected) */
  mediaServers?: MediaServerState[];
}

/**
 * The one rule, over a state however it was obtained: the dependencies that are down, and whether the instance
 * takes calls (none down and not draining). Readiness.takesCalls (OPTIONS, INVITE) and GET /readyz both use it.
 */
export function readinessOf(state: ReadinessState): { down: string[]; ready: boolean } {
  const down = Object.entries(state.checks)
    .filter(([, up]) => !up)
    .map(([name]) => name);
  return { down, ready: down.length === 0 && !state.draining };
}

export class Readiness {
  private drainingSince: number | undefined;

  constructor(
    private readonly probes: DependencyProbes,
    private readonly mediaServers?: () => MediaServerState[],
  ) {}

  /** Stops taking calls for good (shutdown). */
  drain(): void {
    this.drainingSince ??= Date.now();
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  state(): ReadinessState {
    const checks: Record<string, boolean> = {};
    for (const [name, probe] of Object.entries(this.probes)) checks[name] = probe();
    return { checks, draining: this.draining, ...(this.mediaServers ? { mediaServers: this.mediaServers() } : {}) };
  }

  /** the dependencies that are not connected */
  down(): string[] {
    return readinessOf(this.state()).down;
  }

  /** takes new calls: not draining and every dependency connected */
  takesCalls(): boolean {
    return readinessOf(this.state()).ready;
  }
}
