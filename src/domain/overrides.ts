import type { DurationOverrides } from '../config';
import type { Department } from './model';

/** The department as calls see it: deployment-wide duration overrides (tests, demo) win. */
export function withOverrides(d: Department, o: DurationOverrides): Department {
  return {
    ...d,
    offerDelayS: o.offerDelayS ?? d.offerDelayS,
    offerIntervalS: o.offerIntervalS ?? d.offerIntervalS,
    callbackPolicy: {
      windowS: o.callbackWindowS ?? d.callbackPolicy.windowS,
      retryDelayS: o.callbackRetryDelayS ?? d.callbackPolicy.retryDelayS,
      maxAttempts: o.callbackMaxAttempts ?? d.callbackPolicy.maxAttempts,
      employeeRingTimeoutS: o.employeeRingTimeoutS ?? d.callbackPolicy.employeeRingTimeoutS,
      customerRingTimeoutS: o.customerRingTimeoutS ?? d.callbackPolicy.customerRingTimeoutS,
    },
  };
}
