import fs from 'node:fs';
import { z } from 'zod';
import { checkEmployeeUri, type EmployeeUriRules } from '../domain/employee-uri';
import { accountSchema, departmentSchema, employeeSchema, multichannelNumberSchema } from '../domain/model';
import type { ProvisioningStore } from './provisioning';

/**
 * A provisioning file (config/demo-provisioning.json is the example). Values may reference the
 * environment as ${NAME} or ${NAME:-default}. Accounts carry their departments, employees and
 * numbers; the account id is filled in for them.
 */
const seedSchema = z
  .object({
    accounts: z.array(
      accountSchema.extend({
        token: z.string().min(8).optional(),
        employees: z.array(employeeSchema.omit({ accountId: true })),
        departments: z.array(departmentSchema.omit({ accountId: true })),
        numbers: z.array(multichannelNumberSchema.omit({ accountId: true })),
      }),
    ),
  })
  .strict();
export type SeedFile = z.infer<typeof seedSchema>;

export function expandEnv(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def: string | undefined) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v.replace(/["\\]/g, '\\$&');
    if (def !== undefined) return def;
    throw new Error(`environment variable ${name} is required by the provisioning file`);
  });
}

export function parseSeed(text: string, source: string, env: NodeJS.ProcessEnv = process.env): SeedFile {
  let json: unknown;
  try {
    json = JSON.parse(expandEnv(text, env));
  } catch (err) {
    throw new Error(`provisioning file ${source}: ${(err as Error).message}`);
  }
  const r = seedSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`provisioning file ${source} is invalid:\n${lines.join('\n')}`);
  }
  return r.data;
}

export async function applySeed(store: ProvisioningStore, seed: SeedFile): Promise<void> {
  for (const a of seed.accounts) {
    const { token, employees, departments, numbers, ...account } = a;
    await store.putAccount(account);
    if (token) await store.setAccountToken(account.id, token);
    for (const e of employees) await store.putEmployee({ ...e, accountId: account.id });
    for (const d of departments) await store.putDepartment({ ...d, accountId: account.id });
    for (const n of numbers) await store.putNumber({ ...n, accountId: account.id });
  }
}

/**
 * Refuses a provisioning file with an employee URI the service may not ring (src/domain/employee-uri.ts),
 * naming the file and the employee, before anything is written.
 */
export function checkSeedEmployees(seed: SeedFile, source: string, rules: EmployeeUriRules): void {
  const lines: string[] = [];
  seed.accounts.forEach((a, i) =>
    a.employees.forEach((e, j) => {
      const v = checkEmployeeUri(e.sipUri, rules);
      if (!v.ok) lines.push(`  accounts.${i}.employees.${j}.sipUri: ${v.reason}`);
    }),
  );
  if (lines.length > 0) throw new Error(`provisioning file ${source} is invalid:\n${lines.join('\n')}`);
}

export async function seedFromFile(store: ProvisioningStore, file: string, employeeUris: EmployeeUriRules, env: NodeJS.ProcessEnv = process.env): Promise<SeedFile> {
  const seed = parseSeed(fs.readFileSync(file, 'utf8'), file, env);
  checkSeedEmployees(seed, file, employeeUris);
  await applySeed(store, seed);
  return seed;
}
