/**
 * How many messages pull asks Pub/Sub for: pure functions over the ask window and the room
 * admission gives (`src/admission/decide.ts`).
 *
 * The window starts at one and doubles while each pull comes back full, so a backlog of quick
 * events is taken in large pulls within a few round trips; it halves while there is no room, so
 * an instance whose runs must wait takes a few events at a time and leaves the rest of the backlog
 * in Pub/Sub for other instances. A pull never asks for more than admission's room.
 */
export const PULL_WINDOW = {
  first: 1,
  /** Most messages one Pull asks for. */
  most: 1_000,
} as const;

/** What the next pull asks for: the window, within the room and the most one pull may ask. */
export function askFor(window: number, room: number): number {
  return Math.max(0, Math.min(window, room, PULL_WINDOW.most));
}

/** The window after a pull that asked for `asked` and received `received`. */
export function afterPull(window: number, asked: number, received: number): number {
  return received >= asked ? Math.min(PULL_WINDOW.most, window * 2) : window;
}

/** The window while admission gives no room. */
export function whileFull(window: number): number {
  return Math.max(PULL_WINDOW.first, window >> 1);
}
