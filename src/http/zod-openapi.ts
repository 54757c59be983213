import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * zod with `.openapi()` (OpenAPI metadata for @asteasolutions/zod-to-openapi). The extension
 * patches zod's prototypes once, so schemas made anywhere (src/domain included) can be described;
 * only the HTTP layer imports this module.
 */
extendZodWithOpenApi(z);

export { z };
