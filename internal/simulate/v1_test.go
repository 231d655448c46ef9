package simulate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// streamHash hashes the first n messages of cfg's stream: subject, id, data
// and event time of each.
func streamHash(cfg Config, n int) string {
	g := NewGenerator(cfg)
	h := sha256.New()
	var ts [8]byte
	for range n {
		m := g.Next()
		h.Write([]byte(m.Subject))
		h.Write([]byte{0})
		h.Write([]byte(m.MsgID))
		h.Write([]byte{0})
		h.Write(m.Data)
		binary.BigEndian.PutUint64(ts[:], uint64(m.OccurredAt.UnixNano()))
		h.Write(ts[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestV1StreamUnchanged(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default", DefaultConfig(), "bb570679c15ef132cbffbd1acd0a661259bde5b3827351060888df0835781fe8"},
		{"custom", Config{
			Seed:           42,
			Start:          time.Date(2025, 3, 30, 0, 59, 59, 999_000_000, time.FixedZone("CEST", 2*3600)),
			TicketsPerHour: 50_000,
			DuplicateShare: 0.1,
			DisorderShare:  0.1,
			Channels:       []string{"email", "portal", `say "hi"`},
			Teams:          []string{"l1", "l2", "l3"},
		}, "4f79e6e3b98fe0b356330ef302171e73896da34ce12c230421f5d45cf6f9b026"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.V1 = true
			require.Equal(t, tt.want, streamHash(tt.cfg, 200_000))
		})
	}
}
