/** What the meter bridge has seen since it started; shared by the meter socket, the sessions and the bridge. */
export function createAtlasCounters() {
  return {
    /** UDP datagrams received on the meter socket. */
    datagrams: 0,
    /** Datagrams from an address no processor is configured at: dropped. */
    unknownSources: 0,
    /** Lines (TCP or UDP) that were not a message: not JSON, a wrong shape, or too long. Dropped. */
    badLines: 0,
    /** Values delivered to consumers. */
    updates: 0,
    /** Values for a parameter nobody subscribes to (any longer): dropped. */
    unwantedUpdates: 0,
    /** Meter readings outside -80..0 dB, clamped; values no float32 can hold, dropped. */
    outOfRange: 0,
    /** Lines past the most read from one datagram: dropped unread. */
    droppedLines: 0,
    /** Updates past a processor's most per second: dropped. */
    droppedUpdates: 0,
  };
}

export type AtlasCounters = ReturnType<typeof createAtlasCounters>;
