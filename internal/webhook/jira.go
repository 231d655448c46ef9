package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Jira maps Jira webhooks. Not implemented yet.
type Jira struct{}

// Name returns "jira".
func (Jira) Name() string { return "jira" }

// Verify is not implemented yet.
func (Jira) Verify(http.Header, url.Values, []byte, []byte, time.Time) error {
	return errors.Join(ErrUnauthorized, errors.New("jira webhooks are not implemented yet"))
}

// Map is not implemented yet.
func (Jira) Map(http.Header, []byte, *Labels) ([]Event, error) { return nil, nil }

// Labels returns no mapping yet.
func (Jira) Labels() Labels { return Labels{} }
