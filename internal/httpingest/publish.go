package httpingest

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream publishes through a JetStream context, asynchronously, and
// waits for every acknowledgement.
type JetStream struct {
	JS jetstream.JetStream
}

// Publish implements Publisher.
func (p JetStream) Publish(ctx context.Context, msgs []*nats.Msg) ([]bool, error) {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := p.JS.PublishMsgAsync(m)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futures[i] = f
	}
	dup := make([]bool, len(msgs))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			dup[i] = ack.Duplicate
		case err := <-f.Err():
			return nil, fmt.Errorf("publish %s: %w", msgs[i].Subject, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for JetStream to acknowledge: %w", ctx.Err())
		}
	}
	return dup, nil
}
