package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// readmeCommand is one command of the README's demo, with the comment
// above it, which says what it prints.
type readmeCommand struct {
	comment, command string
}

// readmeDemoCommands returns the commands of the README's "look at the
// numbers" block: the shell block after "In a third terminal".
func readmeDemoCommands(t *testing.T) []readmeCommand {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := string(raw)
	i := strings.Index(text, "In a third terminal")
	require.GreaterOrEqual(t, i, 0, "the README's demo names a third terminal")
	block := text[i:]
	start := strings.Index(block, "```sh\n")
	end := strings.Index(block[start+6:], "```")
	require.True(t, start >= 0 && end >= 0)
	var out []readmeCommand
	comment := ""
	sc := bufio.NewScanner(strings.NewReader(block[start+6 : start+6+end]))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			comment = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		default:
			out = append(out, readmeCommand{comment, line})
		}
	}
	return out
}

// TestReadmeCommands runs the README's demo commands, as written, against
// a running aggregator fed by the scripted stream, and checks that each
// prints what the text above it says it prints.
func TestReadmeCommands(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "grep", "head"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the README's commands (scripts/test.sh installs curl)", tool)
		}
	}
	srv := natstest.Start(t)
	a := startAggregator(t, srv.ClientURL(), testNow)
	_, js := srv.Connect(t)
	waitStream(t, js)
	sc := newScenario(11, 300)
	publish(t, js, sc.events, true)
	waitHandled(t, a.url, len(sc.events))
	host := strings.TrimPrefix(a.url, "http://")

	cmds := readmeDemoCommands(t)
	require.NotEmpty(t, cmds)
	for _, c := range cmds {
		require.Contains(t, c.command, "localhost:9478", "README commands talk to the default address")
		cmd := strings.ReplaceAll(c.command, "localhost:9478", host)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "sh", "-c", cmd).Output()
		cancel()
		require.NoError(t, err, "%s\n%s", c.command, out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.NotEmpty(t, strings.TrimSpace(string(out)), "%q prints nothing", c.command)
		checkReadmeOutput(t, c, lines)
	}
}

// checkReadmeOutput checks one command's output against what its comment
// promises.
func checkReadmeOutput(t *testing.T, c readmeCommand, lines []string) {
	t.Helper()
	all := func(re string) {
		t.Helper()
		r := regexp.MustCompile(re)
		for _, l := range lines {
			require.Regexp(t, r, l, "%q (%s) printed a line it should not", c.command, c.comment)
		}
	}
	require.NotEmpty(t, c.comment, "%q: say above it what it prints", c.command)
	switch cmd := c.command; {
	case strings.Contains(cmd, "tickets_opened|open_tickets"):
		all(`^helpdesk_(tickets_opened|open_tickets)\{channel="all",priority="all",team="all"`)
	case strings.Contains(cmd, "first_reply_time_seconds"):
		// Per channel (the overall value too), the median and p90 only,
		// over the last hour, not broken down by priority or team.
		require.Contains(t, c.comment, "per channel")
		all(`^helpdesk_first_reply_time_seconds\{channel="[^"]+",priority="all",quantile="0\.(5|9)",team="all",window="1h"\} `)
		require.Greater(t, len(lines), 2, "several channels")
	case strings.Contains(cmd, "next_reply_time_seconds"):
		all(`^helpdesk_next_reply_time_seconds\{channel="all",priority="all",quantile="0\.9",team="all",window="1h"\} `)
	case strings.Contains(cmd, "open_tickets_by_status"):
		all(`^helpdesk_open_tickets_by_status\{channel="all",priority="all",status="(open|pending|on_hold)",team="all"\} `)
		require.Len(t, lines, 3)
	case strings.Contains(cmd, "sla_paused_tickets"):
		all(`^helpdesk_sla_paused_tickets\{channel="all",policy="all",priority="all",sla="[a-z_]+",team="all"\} `)
		require.Len(t, lines, 3)
	case strings.Contains(cmd, "/api/v1/sla/at-risk"):
		require.Contains(t, strings.Join(lines, "\n"), `"totals"`)
	case strings.Contains(cmd, "/api/v1/kpis"):
		require.Contains(t, strings.Join(lines, "\n"), `"window": "1h"`)
	default:
		t.Errorf("no check for the README command %q (%s): say what it prints", c.command, c.comment)
	}
}
