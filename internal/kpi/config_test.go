package kpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidateAllowLists: duplicates in the teams, channels and agents
// allow-lists, and channels not in lower case, are refused by key.
func TestValidateAllowLists(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"team twice", func(c *Config) { c.Teams = []string{"billing", "support", "billing"} }, `teams: "billing" appears twice`},
		{"channel twice", func(c *Config) { c.Channels = []string{"email", "chat", "email"} }, `channels: "email" appears twice`},
		{"channel in capitals", func(c *Config) { c.Channels = []string{"email", "Chat"} }, `channels: "Chat": must be lower case, like "chat" (events' channels are matched exactly, and publishers send them in lower case)`},
		{"agent twice", func(c *Config) { c.Agents = []string{"a-1", "a-1"} }, `agents: "a-1" appears twice`},
		{"teams differing in case are two teams", func(c *Config) { c.Teams = []string{"Billing", "billing"} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if tc.want == "" {
				require.NoError(t, c.Validate())
			} else {
				require.EqualError(t, c.Validate(), tc.want)
			}
		})
	}
}
