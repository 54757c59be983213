/**
 * The bench's baseline: the least a drachtio-srf + drachtio-fsmrf application does for the same
 * callers. Every INVITE is answered through the media server (connectCaller), hears one prompt in a
 * loop, and is hung up as soon as any digit arrives (RFC 4733 / in-band via the endpoint, or SIP INFO).
 * No Redis, no queue, no offer, no callback. It serves prom-client's default process metrics on
 * /metrics so the bench reads it exactly as it reads the service.
 *
 * Environment: DRACHTIO_PORT, FREESWITCH_PORT (required), HTTP_PORT (required), DRACHTIO_SECRET ('cymru'),
 * FREESWITCH_SECRET ('ClueCon'), PROMPT (default prompts/common/hold-music.wav).
 *
 *   node --require tsx/cjs test/bench/baseline-app.ts
 */
import http from 'node:http';
import path from 'node:path';
import Srf from 'drachtio-srf';
import Mrf from 'drachtio-fsmrf';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { projectRoot } from '../../src/config/root';

/** the project directory, whether run with tsx from test/bench or compiled (dist/test/bench) */
const ROOT = projectRoot();

function required(name: string): number {
  const v = Number(process.env[name]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a port number`);
  return v;
}

async function main(): Promise<void> {
  const drachtioPort = required('DRACHTIO_PORT');
  const eslPort = required('FREESWITCH_PORT');
  const httpPort = required('HTTP_PORT');
  const prompt = path.resolve(ROOT, process.env.PROMPT ?? 'prompts/common/hold-music.wav');

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const srf = new Srf();
  srf.on('error', (err: Error) => process.stderr.write(`baseline: drachtio error ${err.message}\n`));
  await new Promise<void>((resolve) => {
    srf.once('connect', () => resolve());
    srf.connect({ host: '127.0.0.1', port: drachtioPort, secret: process.env.DRACHTIO_SECRET ?? 'cymru' });
  });
  const mrf = new Mrf(srf);
  const ms = await mrf.connect({ address: '127.0.0.1', port: eslPort, secret: process.env.FREESWITCH_SECRET ?? 'ClueCon', listenAddress: '127.0.0.1' });

  srf.invite((req, res) => {
    void (async () => {
      let ended = false;
      const { endpoint, dialog } = await ms.connectCaller(req, res);
      const end = (): void => {
        if (ended) return;
        ended = true;
        try {
          dialog.destroy({ headers: {} }, () => undefined);
        } catch {
          /* already gone */
        }
        endpoint.destroy().catch(() => undefined);
      };
      dialog.on('destroy', () => {
        ended = true;
        endpoint.destroy().catch(() => undefined);
      });
      dialog.on('info', (_ireq: Srf.SrfRequest, ires: Srf.SrfResponse) => {
        ires.send(200);
        end();
      });
      endpoint.on('dtmf', () => end());
      endpoint.execute('start_dtmf').catch(() => undefined);
      while (!ended) {
        await endpoint.play(prompt).catch(() => {
          ended = true;
        });
      }
    })().catch((err: Error) => {
      process.stderr.write(`baseline: call failed: ${err.message}\n`);
      if (!res.finalResponseSent) res.send(503);
    });
  });

  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    res.writeHead(req.url === '/readyz' ? 200 : 404);
    res.end(req.url === '/readyz' ? 'ok' : '');
  });
  await new Promise<void>((resolve) => server.listen(httpPort, '127.0.0.1', () => resolve()));
  process.stdout.write(`baseline app ready: http 127.0.0.1:${httpPort}\n`);
  const stop = (): void => {
    server.close();
    ms.disconnect();
    srf.disconnect();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`baseline: ${err.message}\n`);
  process.exit(1);
});
