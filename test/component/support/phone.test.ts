/**
 * test/support/phone.ts: a stopped phone stays quiet. `npm test` runs files in two mocha workers that each run
 * several files in one process, so a timer a stopped phone left behind (the INVITE's Expires, the 200's
 * retransmission) that fires during a later file's test fails that test with an uncaught
 * ERR_SOCKET_DGRAM_NOT_RUNNING — as it did to the dialer's tests in CI.
 */
import { strict as assert } from 'node:assert';
import dgram from 'node:dgram';
import { TestPhone } from '../../support/phone';
import { freePort } from '../../support/ports';
import { newTag, parseSip } from '../../stack/freeswitch/sip-ua';

const HOST = '127.0.0.1';

function invite(port: number, fromPort: number, expiresS: number): Buffer {
  const callId = `${newTag()}@test`;
  return Buffer.from(
    [
      `INVITE sip:phone@${HOST}:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOST}:${fromPort};branch=z9hG4bK${newTag()}`,
      'Max-Forwards: 70',
      `From: <sip:service@${HOST}>;tag=${newTag()}`,
      `To: <sip:phone@${HOST}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:service@${HOST}:${fromPort}>`,
      `Expires: ${expiresS}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

describe('test support: TestPhone after stop()', function () {
  this.timeout(10_000);

  it('an INVITE whose Expires passes after the phone stopped sends nothing and throws nothing', async () => {
    const port = await freePort('udp');
    // it answers late, so the INVITE is still ringing when it stops
    const phone = await TestPhone.start({ port, toneHz: 440, answerAfterMs: 5_000 });
    const far = dgram.createSocket('udp4');
    await new Promise<void>((r) => far.bind(0, HOST, () => r()));
    const got: string[] = [];
    const ringing = new Promise<void>((resolve) => {
      far.on('message', (d) => {
        const m = parseSip(d);
        if (m?.status !== undefined) got.push(String(m.status));
        if (m?.status === 180) resolve();
      });
    });
    const uncaught: Error[] = [];
    const onUncaught = (e: Error): void => { uncaught.push(e); };
    // mocha's own handler would fail this test too; this one says why
    process.prependListener('uncaughtException', onUncaught);
    try {
      far.send(invite(port, far.address().port, 1), port, HOST);
      await ringing;
      await phone.stop();
      // the Expires timer (1 s) fires in here
      await new Promise((r) => setTimeout(r, 1_300));
      assert.deepEqual(uncaught.map((e) => e.message), []);
      assert.deepEqual(got, ['100', '180'], 'nothing after the stop: no 487 on a closed socket');
    } finally {
      process.off('uncaughtException', onUncaught);
      far.close();
    }
  });
});
