import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured JSON logs; secrets are redacted wherever they might appear. */
export function createLogger(level: string, instanceId: string): Logger {
  return pino({
    level,
    base: { instance: instanceId },
    redact: {
      paths: ['secret', '*.secret', 'password', '*.password', 'token', '*.token', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
