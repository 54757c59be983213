// Calendar dates in the page's language: ДД.ММ.ГГГГ in Russian, DD/MM/YYYY in English (en-GB,
// as the rest of the console). A native <input type="date"> shows the browser's locale instead
// (mm/dd/yyyy in an English browser even on the Russian page), so date fields are text fields in
// this format, with the browser's calendar behind a button.

const LOCALES = { ru: 'ru-RU', en: 'en-GB' };

/** 'YYYY-MM-DD' → the language's format; '' for anything else. */
export function formatDate(iso, lang) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(iso ?? '')) return '';
  const fmt = new Intl.DateTimeFormat(LOCALES[lang] ?? LOCALES.ru, { day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'UTC' });
  return fmt.format(new Date(`${iso}T00:00:00Z`));
}

/** The language's format (day first; '.', '/' or '-' between the parts) or ISO → 'YYYY-MM-DD', or null. */
export function parseDate(text) {
  const s = String(text ?? '').trim();
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  let y, mo, d;
  if (m) [, y, mo, d] = m.map(Number);
  else {
    m = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/.exec(s);
    if (!m) return null;
    [, d, mo, y] = m.map(Number);
  }
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return null;
  return t.toISOString().slice(0, 10);
}
