/**
 * Provisioning records for tests that need "a department" or "an employee" and care about a few fields only:
 * the demo's support department (Russian, ring-all, the default callback policy) and an employee of account demo
 * with caller-ID presentation on, logged in. Pass what the test is about as overrides.
 */
import { DEFAULT_CALLBACK_POLICY, type Department, type Employee } from '../../src/domain/model';

export function makeDepartment(over: Partial<Department> = {}): Department {
  return {
    id: 'support',
    accountId: 'demo',
    name: 'Support',
    notifyAboutCallback: true,
    employeeIds: ['101', '102'],
    ringStrategy: 'ring-all',
    language: 'ru',
    offerDelayS: 5,
    offerIntervalS: 30,
    holdMusic: 'common/hold-music.wav',
    prompts: {},
    callbackPolicy: { ...DEFAULT_CALLBACK_POLICY },
    ...over,
  };
}

export function makeEmployee(id: string, over: Partial<Employee> = {}): Employee {
  return { id, accountId: 'demo', name: `Employee ${id}`, sipUri: `sip:${id}@127.0.0.1`, callerIdPresentation: true, loggedIn: true, ...over };
}
