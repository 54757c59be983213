import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { HttpError } from './errors';

/**
 * 405 Method Not Allowed from a router's own routes: what a path allows is read from the routes
 * the router really serves (its route layers), never from a list kept by hand, so a new route is
 * covered the moment it is registered.
 */

/** A route layer of an Express 4 router (internal, stable across Express 4). */
interface RouteLayer {
  regexp?: unknown;
  route?: { path?: unknown; methods?: Record<string, boolean> };
}

function routeLayers(router: Router): RouteLayer[] {
  const stack = (router as unknown as { stack?: unknown }).stack;
  return Array.isArray(stack) ? (stack as RouteLayer[]) : [];
}

/**
 * The methods the router's routes serve on `path` (upper case, sorted; HEAD wherever GET is, as
 * Express serves it), or [] when no route matches the path at all.
 */
export function allowedMethods(router: Router, path: string): string[] {
  const allowed = new Set<string>();
  for (const layer of routeLayers(router)) {
    const route = layer.route;
    if (!route?.methods || !(layer.regexp instanceof RegExp) || !layer.regexp.test(path)) continue;
    for (const [m, on] of Object.entries(route.methods)) if (on && m !== '_all') allowed.add(m.toUpperCase());
  }
  if (allowed.has('GET')) allowed.add('HEAD');
  return [...allowed].sort();
}

/**
 * Mounted after a router's routes: a request for a path the router declares, with a method none of
 * its routes serve, gets 405 with `Allow`; any other request goes on (to the 404).
 */
export function methodNotAllowed(router: Router): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const allow = allowedMethods(router, req.path);
    if (allow.length === 0 || allow.includes(req.method.toUpperCase())) {
      next();
      return;
    }
    next(new HttpError(405, `method ${req.method} is not allowed on ${req.baseUrl}${req.path}; allowed: ${allow.join(', ')}`, undefined, { Allow: allow.join(', ') }));
  };
}
