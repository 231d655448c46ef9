package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAckPosition(t *testing.T) {
	cases := []struct {
		name               string
		reply              string
		seq, cseq, pending uint64
		stored             int64
		ok                 bool
	}{
		{"v1", "$JS.ACK.HELPDESK_EVENTS.c1.1.4711.12.1700000000000000001.3", 4711, 12, 3, 1700000000000000001, true},
		{"v2 with domain, hash and token", "$JS.ACK._.ACCHASH.HELPDESK_EVENTS.c1.1.42.42.1700000000000000002.0.xyz", 42, 42, 0, 1700000000000000002, true},
		{"v2 without the last token", "$JS.ACK.hub.ACCHASH.S.c.2.7.5.1700000000000000003.9", 7, 5, 9, 1700000000000000003, true},
		{"not an ack subject", "_INBOX.abc", 0, 0, 0, 0, false},
		{"too few tokens", "$JS.ACK.S.c.1.2.3", 0, 0, 0, 0, false},
		{"ten tokens", "$JS.ACK.S.c.1.2.3.4.5.6", 0, 0, 0, 0, false},
		{"not a number", "$JS.ACK.S.c.1.x.3.4.5", 0, 0, 0, 0, false},
		{"consumer sequence not a number", "$JS.ACK.S.c.1.2.x.4.5", 0, 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seq, cseq, pending, stored, ok := ackPosition(tc.reply)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.seq, seq)
				require.Equal(t, tc.cseq, cseq)
				require.Equal(t, tc.pending, pending)
				require.Equal(t, tc.stored, stored)
			}
		})
	}
}
