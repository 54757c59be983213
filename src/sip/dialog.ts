import type Srf from 'drachtio-srf';

/** Sends BYE on a dialog unless it is already gone; never throws (a BYE can cross the far end's). */
export function hangUpDialog(dialog: Srf.Dialog | undefined): void {
  if (!dialog) return;
  // srf sets `connected` on its dialogs (not in its typings): false once either side hung up
  const d = dialog as Srf.Dialog & { connected?: boolean };
  if (d.connected === false) return;
  try {
    dialog.destroy({ headers: {} }, () => undefined);
  } catch {
    /* already gone */
  }
}
