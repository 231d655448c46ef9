package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Freshdesk maps Freshdesk webhooks. Not implemented yet.
type Freshdesk struct{}

// Name returns "freshdesk".
func (Freshdesk) Name() string { return "freshdesk" }

// Verify is not implemented yet.
func (Freshdesk) Verify(http.Header, url.Values, []byte, []byte, time.Time) error {
	return errors.Join(ErrUnauthorized, errors.New("freshdesk webhooks are not implemented yet"))
}

// Map is not implemented yet.
func (Freshdesk) Map(http.Header, []byte, *Labels) ([]Event, error) { return nil, nil }

// Labels returns no mapping yet.
func (Freshdesk) Labels() Labels { return Labels{} }
