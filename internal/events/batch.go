package events

import "time"

// Batch is a run of consecutive stream messages, decoded: what the reader
// of the stream (package ingest) hands to the owner of the state (package
// engine), so that neither depends on the other. The owner holds it until
// it calls Release; the events' byte slices alias the messages' data.
type Batch struct {
	// Events are the valid events, in stream order.
	Events []Event
	// Stored holds, for each of Events, when the stream stored its
	// message (Unix ns): the state's clock follows it (kpi.State.Arrive).
	Stored []int64
	// Rejected holds the reason of every rejected message.
	Rejected []Reason
	// LastSeq is the stream sequence of the last message in the batch.
	LastSeq uint64
	// StreamCreated is when the stream LastSeq counts in was created: a
	// stream deleted and created again numbers its messages from 1 again.
	StreamCreated time.Time
	// Pending is the number of stream messages after LastSeq.
	Pending uint64

	// Recycle, when set, takes the batch back for reuse on Release.
	Recycle func(*Batch)
}

// Release hands the batch back to its reader.
func (b *Batch) Release() {
	if b.Recycle != nil {
		b.Recycle(b)
	}
}
