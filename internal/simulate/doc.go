// Package simulate produces a realistic, synthetic stream of helpdesk events
// in the wire format of contract section 1, and publishes it to JetStream.
//
// It is for demos, load tests and end-to-end tests of the aggregator: a
// Generator turns a seed into an endless, reproducible stream of tickets that
// are opened, answered, resolved, sometimes reopened and rated, with skewed
// channel, priority and team shares, lognormal response times, surveys, and a
// configurable share of publish retries (duplicate ids) and out-of-order
// events. Publish and Preload send such a stream to JetStream with the
// Nats-Msg-Id header set, paced or as fast as possible.
//
// It is not a model of any real helpdesk, and the numbers it yields carry no
// meaning beyond "plausible": shares and delays are fixed constants chosen to
// make dashboards and SLA panels look alive. It is not a reference
// implementation of the contract either: the aggregator's decoder and tests
// decide what is valid, and this package only promises to emit valid events.
// The Generator never reads the clock (only the publisher does, to pace and
// to report progress), so the same Config always yields the same messages.
package simulate
