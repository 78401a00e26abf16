/** What the coordinator has seen and done since it started; exported by `stats()`. */
export function createCounters() {
  return {
    datagrams: 0,
    /** Not OSC, or OSC past a limit: dropped. */
    malformed: 0,
    /** OSC with a known address but wrong arguments: dropped (requests get `invalid_request`). */
    invalid: 0,
    /** Well-formed OSC the coordinator has no use for (yet): ignored. */
    unknownAddress: 0,
    requests: 0,
    repeatedRequests: 0,
    assignments: 0,
    assignmentTimeouts: 0,
    confirmations: 0,
    /** Confirmations naming a port that was not the instance's to claim, or from another host: changed nothing. */
    confirmationsIgnored: 0,
    crossed: 0,
    probesSent: 0,
    probeAnswers: 0,
    probeWrongOwner: 0,
    /** Probes that went unanswered within their wait (binding and liveness). */
    probeFailures: 0,
    /** rms_response that answers no probe: plugin traffic, left to routing. */
    unmatchedAnswers: 0,
    /** rms_response to a probe of ours already answered or over: dropped, never forwarded. */
    lateAnswers: 0,
    steals: 0,
    quarantined: 0,
    portsHeldElsewhere: 0,
    bound: 0,
    failed: 0,
    lapsed: 0,
    released: 0,
    expiries: 0,
    /** Requests refused with `busy`: too many waiting at their endpoint, or a table full of verified leases. */
    busy: 0,
    /** Instances never verified dropped to make room in a full table. */
    evicted: 0,
    /** Releases from another host than the instance's request. */
    releasesRefused: 0,
    /** Messages from plugins that kept a lease alive (telemetry, rms, tones...). */
    pluginTraffic: 0,
    /** Admin queries refused because they did not come from loopback. */
    adminRefused: 0,
    /** Datagrams sent to controllers: plugin traffic forwarded (one per controller) and lease events. */
    forwarded: 0,
    /** Messages delivered to plugins by /coordinator/send (one per target). */
    sentToPlugins: 0,
    /** /coordinator/send and subscriptions refused with /coordinator/error. */
    routingErrors: 0,
    /** Calibration gathers answered. */
    gathers: 0,
    /** Subscriptions naming a listen port that was sent a token less than a second before: dropped. */
    challengesRefused: 0,
    /** Records the journal refused: each lease went on in memory. */
    journalFailures: 0,
    /** A lease machine's effect that threw: the lease went on; the error is logged. */
    effectFailures: 0,
    /** A lease machine that failed (a bug): its lease ended as failed, its port back in the pool. */
    machineFailures: 0,
    /** `query_rms` sent by sweeps of the response ports and, at start, of the pool's bound ports. [PROTOCOL §16] */
    sweepsSent: 0,
    /** Instances found waiting at a response port with no request heard: each taken as its request. */
    instancesAdopted: 0,
    /** Instances found receiving on a pool port no lease held: each given its lease there. */
    bindingsAdopted: 0,
  };
}

export type Counters = ReturnType<typeof createCounters>;
