import type { CallbackRequest } from '../domain/callback-request';

/**
 * The CSV export of callback requests (GET …/requests.csv): RFC 4180 quoting (a field with a
 * comma, quote, CR or LF is quoted, quotes doubled), CRLF line ends, a UTF-8 BOM so Excel reads
 * Cyrillic names. A note starting with = + - @ (a spreadsheet formula) gets a leading ' so
 * opening the file never runs it.
 */
export const CSV_COLUMNS = ['id', 'created', 'department', 'caller number', 'status', 'attempts', 'last outcome', 'employee', 'note'] as const;

export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function noFormula(v: string): string {
  return /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
}

export function requestsCsv(items: readonly CallbackRequest[], names: { department: (id: string) => string; employee: (id: string) => string }): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of items) {
    const last = r.attempts[r.attempts.length - 1];
    const row = [
      r.id,
      new Date(r.createdAt).toISOString(),
      noFormula(names.department(r.departmentId)),
      r.callerNumber,
      r.status,
      String(r.attempts.length),
      last?.outcome ?? '',
      last?.employeeId !== undefined ? noFormula(names.employee(last.employeeId)) : '',
      noFormula(r.note ?? ''),
    ];
    lines.push(row.map(csvField).join(','));
  }
  return `\ufeff${lines.join('\r\n')}\r\n`;
}
