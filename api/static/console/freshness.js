// Newest state wins. A page loads hazards or cases by REST, then applies the live feed; the
// feed may hand it a state older than the one it has (a reconnection that had seen no event id
// yet asks for the events since a little before its first connection: live.js). Applying that
// older state would, for a moment, reopen an acknowledged fire. So each page keeps the
// `updated_at` of the newest state it applied per id, and skips anything older.
// (`updated_at` is the writing transaction's start time: two writes to one row within the same
// instant may commit in the other order, and the later one then waits for the next change to
// show. A stale count for a moment, against a fire that reopens on screen.)

export class Latest {
  constructor() {
    this.seen = new Map(); // id -> epoch ms of the newest state applied
  }

  // True, and remembered, when `item` (a hazard or a case) is at least as new as any state of
  // it seen so far; false for an older one. Items without `updated_at` are always taken.
  accept(item) {
    const at = Date.parse(item.updated_at);
    if (Number.isNaN(at)) return true;
    const known = this.seen.get(item.id);
    if (known !== undefined && at < known) return false;
    this.seen.set(item.id, at);
    return true;
  }
}
