// Package simulate produces a realistic, synthetic stream of helpdesk events
// in the wire format of docs/events.md, and publishes it to JetStream.
//
// It is for demos, load tests and end-to-end tests of the aggregator: a
// Generator turns a seed into an endless, reproducible stream of tickets that
// are opened, answered, resolved, sometimes reopened and rated, with skewed
// channel, priority and team shares, lognormal response times, surveys, and a
// configurable share of publish retries (duplicate ids) and out-of-order
// events. Publish and Preload send such a stream to JetStream with the
// Nats-Msg-Id header set, paced or as fast as possible.
//
// By default the stream speaks contract v2. Each ticket is opened with status
// open; 95% get a first reply as ticket.replied (30% of those sent a second
// time as ticket.first_reply, same time, own id, as the contract allows) and
// 10% of all a customer message before it. A conversation follows: 0 to 3
// customer messages (55%, 25%, 13%, 7%), each answered by a ticket.replied
// after a lognormal delay whose median depends on the priority (urgent 12m,
// high 25m, normal 90m, low 5h, so that about 95% meet the default next
// reply targets), except a last message that is a closing thanks (15%),
// which the resolution answers. After 60% of agent replies the ticket is set
// pending, and open again when the customer writes or, half of the time,
// just before the resolution; 8% of customer messages put the ticket on hold
// for a few hours before the reply. 6.5% of normal and high tickets are
// escalated one priority (about 5% of all) and 5% are moved to another team,
// by ticket.updated soon after the first reply. 20% of resolutions carry
// "replies" (the count of ticket.replied so far); the others leave FCR to
// the reply events. 8% of answered tickets are reopened by a customer
// message, which starts a conversation of 1 or 2 messages. Config.V1 selects
// the stream of contract v1 instead, message for message the same as before
// v2 existed.
//
// The team is healthy by default: it keeps pace with the arrivals, so that
// the open backlog levels off within the first day of the stream, and
// about 92% of first replies and 97% of resolutions meet the contract's
// default targets. Config.Overloaded selects a team in crisis instead
// (first replies and resolutions two to three times as slow, with tails of
// days), whose backlog grows for days; v1 streams always have that team.
//
// Every message carries its Position in the stream, and publishers write
// it with the stream's Config.Run and start in Helpdesk-Sim-… headers, so
// that a simulator started again can find the last stored message
// (LastStored), Skip a new Generator of the same Config to it, and go on
// without a gap and without a message stored twice.
//
// It is not a model of any real helpdesk, and the numbers it yields carry no
// meaning beyond "plausible": shares and delays are fixed constants chosen to
// make dashboards and SLA panels look alive. It is not a reference
// implementation of the contract either: the aggregator's decoder and tests
// decide what is valid, and this package only promises to emit valid events.
// The Generator never reads the clock (only the publisher does, to pace and
// to report progress), so the same Config always yields the same messages.
package simulate
