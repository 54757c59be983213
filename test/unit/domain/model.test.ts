import { strict as assert } from 'node:assert';
import { makeDepartment } from '../../support/model-fixtures';
import {
  DEFAULT_CALLBACK_POLICY,
  E164,
  accountSchema,
  departmentSchema,
  employeeSchema,
  multichannelNumberSchema,
  type Employee,
} from '../../../src/domain/model';
import { withOverrides } from '../../../src/domain/overrides';

const department = makeDepartment;

function employee(over: Partial<Employee> = {}): Employee {
  return { id: '101', accountId: 'demo', name: 'Employee 101', sipUri: 'sip:101@127.0.0.1:5071', callerIdPresentation: true, loggedIn: true, ...over };
}

describe('domain/model schemas', () => {
  it('E164 accepts + and 7 to 15 digits, no leading zero', () => {
    for (const ok of ['+74950000000', '+1234567', '+123456789012345']) assert.ok(E164.test(ok), ok);
    for (const bad of ['74950000000', '+0123456789', '+123456', '+1234567890123456', '+7495000000a', '+7495 0000000']) assert.ok(!E164.test(bad), bad);
  });

  it('accepts the demo department and refuses unknown keys', () => {
    assert.deepEqual(departmentSchema.parse(department()), department());
    assert.throws(() => departmentSchema.parse({ ...department(), extra: 1 }), /Unrecognized key/);
  });

  it('refuses ids with spaces, slashes or a leading punctuation mark', () => {
    for (const id of ['a b', 'a/b', '-a', '.a', '', 'x'.repeat(65), 'отдел']) {
      assert.throws(() => accountSchema.parse({ id, name: 'n', callbackEnabled: true }), /must be 1-64 letters/, id);
    }
    for (const id of ['a', 'A-1_b.c', '9', 'x'.repeat(64)]) accountSchema.parse({ id, name: 'n', callbackEnabled: true });
  });

  it('refuses durations that are not positive or longer than a day', () => {
    for (const windowS of [0, -1, 86401]) {
      assert.throws(() => departmentSchema.parse(department({ callbackPolicy: { ...DEFAULT_CALLBACK_POLICY, windowS } })), /windowS/);
    }
    assert.throws(() => departmentSchema.parse(department({ offerDelayS: 0 })), /offerDelayS/);
  });

  it('limits maxAttempts to whole numbers 1-10', () => {
    for (const maxAttempts of [0, 11, 1.5]) {
      assert.throws(() => departmentSchema.parse(department({ callbackPolicy: { ...DEFAULT_CALLBACK_POLICY, maxAttempts } })), /maxAttempts/);
    }
  });

  it('accepts only the three ring strategies and two languages', () => {
    for (const ringStrategy of ['ring-all', 'round-robin', 'longest-idle'] as const) departmentSchema.parse(department({ ringStrategy }));
    assert.throws(() => departmentSchema.parse({ ...department(), ringStrategy: 'random' }), /ringStrategy/);
    assert.throws(() => departmentSchema.parse({ ...department(), language: 'de' }), /language/);
  });

  it('accepts only known prompt names as department prompt overrides', () => {
    departmentSchema.parse(department({ prompts: { offer: 'custom/offer.wav' } }));
    assert.throws(() => departmentSchema.parse({ ...department(), prompts: { greeting: 'x.wav' } }), /prompts/);
  });

  it('refuses an employee SIP URI with spaces, brackets or quotes', () => {
    for (const sipUri of ['sip:101@127.0.0.1:5071', 'sips:101@pbx.example', 'sip:101@127.0.0.1;transport=tcp']) employeeSchema.parse(employee({ sipUri }));
    for (const sipUri of ['tel:+74950000101', 'sip:101@host>', 'sip:<101@host', 'sip:"101"@host', 'sip:101@host x', 'sip:101@host\r\nX: y', 'http://x']) {
      assert.throws(() => employeeSchema.parse(employee({ sipUri })), /sipUri/, sipUri);
    }
  });

  it("requires an employee's own number to be E.164", () => {
    employeeSchema.parse(employee({ ownNumber: '+74950000102' }));
    assert.throws(() => employeeSchema.parse(employee({ ownNumber: '84950000102' })), /ownNumber/);
  });

  it('requires a multichannel number to be E.164', () => {
    multichannelNumberSchema.parse({ number: '+74950000000', accountId: 'demo', departmentId: 'support' });
    assert.throws(() => multichannelNumberSchema.parse({ number: '74950000000', accountId: 'demo', departmentId: 'support' }), /number/);
  });
});

describe('domain/overrides: withOverrides', () => {
  it('returns the department unchanged without overrides', () => {
    assert.deepEqual(withOverrides(department(), {}), department());
  });

  it('lets every deployment-wide duration win over the department', () => {
    const d = withOverrides(department(), {
      offerDelayS: 1,
      offerIntervalS: 2,
      callbackWindowS: 3,
      callbackRetryDelayS: 4,
      callbackMaxAttempts: 5,
      employeeRingTimeoutS: 6,
      customerRingTimeoutS: 7,
    });
    assert.equal(d.offerDelayS, 1);
    assert.equal(d.offerIntervalS, 2);
    assert.deepEqual(d.callbackPolicy, { windowS: 3, retryDelayS: 4, maxAttempts: 5, employeeRingTimeoutS: 6, customerRingTimeoutS: 7 });
  });

  it('overrides only what is given', () => {
    const d = withOverrides(department(), { callbackRetryDelayS: 2 });
    assert.deepEqual(d.callbackPolicy, { ...DEFAULT_CALLBACK_POLICY, retryDelayS: 2 });
    assert.equal(d.offerDelayS, 5);
    assert.equal(d.offerIntervalS, 30);
  });

  it('does not change the department it was given', () => {
    const original = department();
    withOverrides(original, { offerDelayS: 1, callbackWindowS: 9 });
    assert.deepEqual(original, department());
  });

  it('keeps everything that is not a duration', () => {
    const d = withOverrides(department({ ringStrategy: 'round-robin', notifyAboutCallback: false }), { offerDelayS: 1 });
    assert.equal(d.ringStrategy, 'round-robin');
    assert.equal(d.notifyAboutCallback, false);
    assert.deepEqual(d.employeeIds, ['101', '102']);
  });
});
