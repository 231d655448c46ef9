package simulate

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// storedIDs is what JetStream keeps of msgs, published in order with
// their ids as Nats-Msg-Id (repeats follow their originals within the
// duplicate window): the first message of each id.
func storedIDs(msgs []Message) []Message {
	seen := map[string]bool{}
	var out []Message
	for _, m := range msgs {
		if !seen[m.MsgID] {
			seen[m.MsgID] = true
			out = append(out, m)
		}
	}
	return out
}

// TestGeneratorSkip stops a stream after k messages, resumes it the way
// the simulator does (a new Generator, Skip to the position of the last
// stored message) and checks that what the stream would then store is
// exactly what an uninterrupted run stores, even with no duplicate window
// at all: the resumed Generator itself leaves out the repeats of messages
// before its start.
func TestGeneratorSkip(t *testing.T) {
	heavy := Config{Seed: 9, DuplicateShare: 0.3, DisorderShare: 0.3}
	v1 := DefaultConfig()
	v1.V1 = true
	overloaded := DefaultConfig()
	overloaded.Overloaded = true
	for _, tt := range []struct {
		name string
		cfg  Config
	}{{"default", DefaultConfig()}, {"many repeats and delays", heavy}, {"v1", v1}, {"overloaded", overloaded}} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20_000
			want := storedIDs(generate(tt.cfg, n))
			for _, k := range []int{1, 2, 3, 17, 1000, 4321, 9999} {
				first := storedIDs(generate(tt.cfg, k))
				last := first[len(first)-1].Position

				g := NewGenerator(tt.cfg)
				g.Skip(last)
				before := map[string]bool{}
				for _, m := range first {
					before[m.MsgID] = true
				}
				var rest []Message
				for {
					m := g.Next()
					require.Greater(t, m.Position, last)
					require.False(t, before[m.MsgID], "k=%d: %s at position %d is stored already", k, m.MsgID, m.Position)
					if m.Position > n {
						break
					}
					rest = append(rest, m)
				}
				got := append(slices.Clone(first), storedIDs(rest)...)
				require.Equal(t, len(want), len(got), "k=%d", k)
				for i := range want {
					require.Equal(t, want[i].MsgID, got[i].MsgID, "k=%d, message %d", k, i)
					require.Equal(t, want[i].Data, got[i].Data, "k=%d, message %d", k, i)
				}
			}
		})
	}
}

// TestPublishResume publishes part of a run to JetStream, stops, finds
// where the stream stands with LastStored, resumes with Skip, and checks
// that the stream then holds exactly the messages of an uninterrupted run:
// the same ids in the same order, each once, with the same data.
func TestPublishResume(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DuplicateShare, cfg.DisorderShare = 0.1, 0.1
	for _, tt := range []struct {
		name  string
		async bool
		stops []int // messages published by each run but the last
	}{
		{"async, one stop", true, []int{2500}},
		{"async, three stops", true, []int{1, 700, 1303}},
		{"sync", false, []int{999}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			js, stream := startJetStream(t, true)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()

			_, found, err := LastStored(ctx, stream)
			require.NoError(t, err)
			require.False(t, found, "an empty stream")

			const total = 6000
			for _, n := range append(tt.stops, total) {
				g := NewGenerator(cfg)
				last, found, err := LastStored(ctx, stream)
				require.NoError(t, err)
				if found {
					require.Equal(t, cfg.Run(), last.Run)
					require.True(t, last.Start.Equal(cfg.Start), "start %s", last.Start)
					g.Skip(last.Position)
				}
				_, err = Publish(ctx, js, g, PublishConfig{Count: n, Async: tt.async})
				require.NoError(t, err)
			}

			info, err := stream.Info(ctx)
			require.NoError(t, err)
			stored := int(info.State.Msgs)
			want := storedIDs(generate(cfg, 2*total))[:stored]
			seen := map[string]bool{}
			for i, w := range want {
				got, err := stream.GetMsg(ctx, uint64(i+1))
				require.NoError(t, err)
				id := got.Header.Get(jetstream.MsgIDHeader)
				require.False(t, seen[id], "%s stored twice", id)
				seen[id] = true
				require.Equal(t, w.MsgID, id, "message %d", i+1)
				require.Equal(t, w.Data, got.Data, "message %d", i+1)
				require.Equal(t, w.Subject, got.Subject, "message %d", i+1)
			}
			require.Greater(t, stored, total*9/10, "the last run publishes %d messages", total)
		})
	}
}

func TestLastStoredLooksPastOtherPublishers(t *testing.T) {
	js, stream := startJetStream(t, true)
	cfg := Config{Seed: 3}
	g := NewGenerator(cfg)
	_, err := Publish(t.Context(), js, g, PublishConfig{Count: 50})
	require.NoError(t, err)
	for i := range 20 {
		_, err := js.Publish(t.Context(), "helpdesk.events.ticket.opened", []byte(`{}`), jetstream.WithMsgID(string(rune('a'+i))))
		require.NoError(t, err)
	}
	last, found, err := LastStored(t.Context(), stream)
	require.NoError(t, err)
	require.True(t, found)
	want := storedIDs(generate(cfg, 50))
	require.Equal(t, want[len(want)-1].Position, last.Position)
	require.Equal(t, want[len(want)-1].OccurredAt, last.OccurredAt)
	require.Equal(t, cfg.Run(), last.Run)
}

func TestConfigRun(t *testing.T) {
	def := DefaultConfig()
	require.Equal(t, "contract=v2 seed=1 tickets-per-hour=600 duplicates=0.02 disorder=0.02 team=healthy", def.Run())
	require.Equal(t, Config{Seed: 1}.Run(), Config{Seed: 1, Channels: def.Channels, Teams: def.Teams, TicketsPerHour: 600}.Run(), "zero values and their defaults")
	over := def
	over.Overloaded = true
	require.Contains(t, over.Run(), "team=overloaded")
	v1 := def
	v1.V1 = true
	require.Contains(t, v1.Run(), "contract=v1 ")
	require.Contains(t, v1.Run(), "team=overloaded")
	custom := Config{Seed: 2, Channels: []string{"mail", "say \"hi\"\n"}}
	require.Equal(t, `contract=v2 seed=2 tickets-per-hour=600 duplicates=0 disorder=0 team=healthy channels="mail","say \"hi\"\n"`, custom.Run())
	require.NotEqual(t, def.Run(), func() Config { c := def; c.Seed = 2; return c }().Run())
}
