import { SubscriptionList } from "./list";
import { Subscriber, SubscriptionIndex, TopicTable } from "./table";

/** Up to this many subscriptions in all, a flat list beats a trie (in memory, and in speed at that size). */
export const FLAT_SUBSCRIPTIONS = 256;

/**
 * Defined (true) by the Espruino build only: a board's profile allows a few
 * dozen subscriptions, where the list is smaller and faster, so the trie is
 * left out of the bundle and its functions out of the JsVar pool.
 */
declare const BOARD_BUILD: boolean;

/**
 * The subscription index for a broker of `capacity` subscriptions: a board's
 * few dozen fit a flat list best; the desktop's many need the trie.
 * @cold 310
 */
export function newSubscriptionIndex<T extends Subscriber>(capacity: number): SubscriptionIndex<T> {
  if (typeof BOARD_BUILD !== "undefined" || capacity <= FLAT_SUBSCRIPTIONS) return new SubscriptionList<T>(capacity);
  return new TopicTable<T>(capacity);
}
