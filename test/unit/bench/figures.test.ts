import assert from 'node:assert/strict';
import { commandDelta, commandsPerUnit, parseCommandStats, parseSippLog, pct, pctCensored, ratesPerS, ratio, ratioText, sentCommands } from '../../bench/figures';

const INFO = [
  '# Commandstats',
  'cmdstat_hget:calls=120,usec=300,usec_per_call=2.50,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0,failed_calls=0',
  'cmdstat_client|setname:calls=3,usec=3,usec_per_call=1.00,rejected_calls=0,failed_calls=0',
  'cmdstat_exec:calls=40,usec=400,usec_per_call=10.00,rejected_calls=0,failed_calls=0',
  '',
].join('\r\n');

describe('bench figures', () => {
  it('counts the commands clients sent from MONITOR output, not those a script ran', () => {
    const monitor = [
      'OK',
      '1796683031.992455 [0 127.0.0.1:42484] "MULTI"',
      '1796683031.992494 [0 127.0.0.1:42484] "ZADD" "qc:{a:demo}:line:support" "1" "c:1"',
      '1796683031.992604 [0 127.0.0.1:42484] "EXEC"',
      '1796683033.623918 [0 127.0.0.1:42484] "EVALSHA" "8ac3" "1" "k"',
      '1796683033.624970 [0 lua] "HMGET" "qc:{a:demo}:entries" "c:1"',
      '1796683033.625010 [0 lua] "ZADD" "qc:{a:demo}:leases:by-expiry" "XX" "1" "c:1"',
      '1796683034.000001 [0 unix:/tmp/redis.sock] "info" "commandstats"',
      '1796683034.000002 [0 127.0.0.1:42500] "HGET" "a" "b"',
      '',
    ].join('\n');
    assert.deepEqual(Object.fromEntries(sentCommands(monitor, new Set(['info']))), { multi: 1, zadd: 1, exec: 1, evalsha: 1, hget: 1 });
  });

  it('parses INFO commandstats into calls per command, subcommands included', () => {
    const m = parseCommandStats(INFO);
    assert.deepEqual([...m], [
      ['hget', 120],
      ['info', 7],
      ['client|setname', 3],
      ['exec', 40],
    ]);
  });

  it('takes deltas between snapshots without the excluded commands, new commands counted from 0', () => {
    const before = parseCommandStats(INFO);
    const after = new Map([...before, ['hget', 150], ['info', 9], ['xadd', 5]]);
    assert.deepEqual([...commandDelta(before, after, new Set(['info']))], [
      ['hget', 30],
      ['xadd', 5],
    ]);
  });

  it('gives commands per unit in all and net of the idle background, top commands largest first', () => {
    const delta = new Map([
      ['hget', 100],
      ['watch', 20],
      ['xadd', 10],
    ]);
    // 10 s window, idle polling 4 hget/s and 1 watch/s: 40 hget and 10 watch are background
    const idle = ratesPerS(new Map([['hget', 20], ['watch', 5]]), 5);
    const r = commandsPerUnit(delta, 10, idle, 10, 2);
    assert.equal(r.total, 13);
    assert.equal(r.net, (60 + 10 + 10) / 10);
    assert.deepEqual(r.top, [
      { command: 'hget', perUnit: 6 },
      { command: 'watch', perUnit: 1 },
    ]);
    // more background than commands: never negative
    assert.equal(commandsPerUnit(new Map([['hget', 1]]), 1, new Map([['hget', 10]]), 1).net, 0);
  });

  it('reads the timestamps of SIPp <log> lines ([timestamp] is date, time, epoch seconds)', () => {
    const text = [
      'press +79160000001 2026-12-02\t16:41:00.779431\t1796229660.779431',
      'callback-invite 3f2a 2026-12-02\t16:41:01.000500\t1796229661.000500',
      'press +79160000002 2026-12-02\t16:41:02.001000\t1796229662.001000',
      'press +79160000001 2026-12-02\t16:41:09.000000\t1796229669.000000',
      'garbage',
    ].join('\n');
    assert.deepEqual([...parseSippLog(text, 'press')], [
      ['+79160000001', 1796229660779],
      ['+79160000002', 1796229662001],
    ]);
    assert.deepEqual([...parseSippLog(text, 'callback-invite')], [['3f2a', 1796229661001]]);
  });

  it('percentiles by nearest rank; censored samples mark the percentiles they reach', () => {
    assert.deepEqual(pct([5, 1, 3, 2, 4]), { n: 5, p50: 3, p99: 5 });
    assert.deepEqual(pct([]), { n: 0, p50: null, p99: null });
    const c = pctCensored([10, 20, 30], [25]);
    assert.equal(c.p50, 20);
    assert.equal(c.p50AtLeast, false);
    assert.equal(c.p99, 30);
    assert.equal(c.p99AtLeast, true);
  });

  it('ratios only against a positive reference', () => {
    assert.equal(ratio(30, 20), 1.5);
    assert.equal(ratio(30, 0), null);
    assert.equal(ratio(null, 20), null);
    assert.equal(ratioText(24, 20), '1.20×');
    assert.equal(ratioText(undefined, 20), '-');
  });
});
