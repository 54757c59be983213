/**
 * Id conventions of the line: a callback request's entry in its department's line, and the key of the
 * duplicate rule (one unfinished request per number and department).
 */
/** The line entry of a callback request. */
export function callbackEntryId(requestId: string): string {
  return `r:${requestId}`;
}

/** The request of a callback's line entry; undefined for a caller's entry. */
export function requestIdOfEntry(entryId: string): string | undefined {
  return entryId.startsWith('r:') ? entryId.slice(2) : undefined;
}

/** The duplicate rule's key: a number in a department. */
export function pendingKey(departmentId: string, number: string): string {
  return `${departmentId}|${number}`;
}
