import type { NextFunction, Request, Response } from 'express';

/** An async route handler: resolves when it has answered, rejects to reach the error handler. */
export type AsyncHandler = (req: Request, res: Response) => Promise<void>;

/** Express 4 does not catch rejected promises: route them to the error handler. */
export const wrap =
  (fn: AsyncHandler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).catch(next);
  };
