/**
 * ProvisioningCache (src/store/provisioning-cache.ts) against a feed whose health and messages the test decides:
 * prime loads once while the feed can be trusted, never while it is down, and a provisioning change drops the value.
 */
import { strict as assert } from 'node:assert';
import type { ChangeFeed } from '../../../src/store/changes';
import { ProvisioningCache } from '../../../src/store/provisioning-cache';
import { FakeChanges } from '../../support/fakes/dispatch-store';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('store/provisioning-cache: peek and prime', () => {
  let feed: FakeChanges;
  let cache: ProvisioningCache;
  let loads: number;
  const load = async (): Promise<boolean> => {
    loads++;
    return false;
  };
  beforeEach(() => {
    feed = new FakeChanges();
    cache = new ProvisioningCache(feed as unknown as ChangeFeed);
    loads = 0;
  });

  it('prime loads once, however often it is asked before the load ends; peek then answers from memory', async () => {
    cache.prime('k', load);
    cache.prime('k', load);
    assert.equal(cache.peek('k'), undefined, 'not loaded yet');
    await settle();
    assert.equal(cache.peek('k'), false);
    cache.prime('k', load);
    await settle();
    assert.equal(loads, 1);
  });

  it('while the feed is down, prime loads nothing and peek knows nothing', async () => {
    feed.healthy = false;
    for (let i = 0; i < 5; i++) cache.prime('k', load);
    await settle();
    assert.equal(loads, 0);
    assert.equal(cache.peek('k'), undefined);
  });

  it('a provisioning change drops what prime loaded, so the next prime loads again', async () => {
    cache.prime('k', load);
    await settle();
    feed.emit({ kind: 'p', accountId: 'demo' });
    assert.equal(cache.peek('k'), undefined);
    cache.prime('k', load);
    await settle();
    assert.equal(loads, 2);
  });
});
