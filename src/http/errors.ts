import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { ZodError, type ZodIssue, type ZodType, type ZodTypeDef } from 'zod';

/** An error with an HTTP status; the body is always `{ error, field? }`. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: string;
  field?: string;
}

export function sendError(res: Response, status: number, error: string, field?: string): void {
  const body: ErrorBody = field === undefined ? { error } : { error, field };
  res.status(status).json(body);
}

/** The dotted path of the first offending field of a zod failure (unknown keys name the key itself). */
export function issueField(issue: ZodIssue, prefix?: string): string | undefined {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  const parts = prefix ? [prefix, ...path] : path;
  return parts.length > 0 ? parts.join('.') : undefined;
}

export function issueMessage(issue: ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return 'is required';
  return issue.message;
}

/**
 * Validates a request body or query with a zod schema. On failure throws 400 naming the first
 * offending field; nothing has been written at that point.
 */
export function validate<Out, In = Out>(schema: ZodType<Out, ZodTypeDef, In>, value: unknown, what: 'body' | 'query' = 'body'): Out {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (!issue) throw new HttpError(400, `invalid ${what}`);
  const field = issueField(issue);
  throw new HttpError(400, field ? `${field}: ${issueMessage(issue)}` : `${what}: ${issueMessage(issue)}`, field);
}

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

function bodyParserError(err: unknown): BodyParserError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as BodyParserError;
  return typeof e.type === 'string' ? e : undefined;
}

/**
 * A decompression failure of a request body (Content-Encoding gzip / deflate cut short or corrupt):
 * body-parser passes zlib's error on with status 400 but without a `type`.
 */
function zlibError(err: unknown): { message: string } | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^Z_[A-Z_]+$/.test(code) ? { message: err.message } : undefined;
}

/** Any other client error raised by Express' own middleware (http-errors: a 4xx `status`, `expose`). */
function exposedClientStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; expose?: unknown };
  return e.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500 ? e.status : undefined;
}

/** The last handler: maps errors to JSON answers and logs server faults without secrets. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      sendError(res, err.status, err.message, err.field);
      return;
    }
    const z = zlibError(err);
    if (z) {
      const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
      const named = enc === 'gzip' || enc === 'deflate' ? enc : 'compressed';
      return sendError(res, 400, `request body is not valid ${named} data (${z.message})`);
    }
    const bp = bodyParserError(err);
    if (bp) {
      if (bp.type === 'entity.too.large') return sendError(res, 413, 'request body too large');
      if (bp.type === 'entity.parse.failed') return sendError(res, 400, 'request body is not valid JSON');
      if (bp.type === 'encoding.unsupported' || bp.type === 'charset.unsupported') return sendError(res, 415, 'unsupported body encoding');
      const status = bp.status ?? bp.statusCode ?? 400;
      return sendError(res, status >= 400 && status < 500 ? status : 400, 'invalid request body');
    }
    const clientStatus = exposedClientStatus(err);
    if (clientStatus !== undefined) return sendError(res, clientStatus, 'invalid request');
    if (err instanceof ZodError) {
      // a stored value no longer matches the model: a server fault, not the client's
      logger.error({ method: req.method, path: req.path, issues: err.issues.length }, 'stored data failed validation');
      return sendError(res, 500, 'internal error');
    }
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ method: req.method, path: req.path, err: { name: err instanceof Error ? err.name : 'unknown', message } }, 'request failed');
    sendError(res, 500, 'internal error');
  };
}
