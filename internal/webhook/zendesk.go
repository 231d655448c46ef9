package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Zendesk maps Zendesk webhooks. Not implemented yet.
type Zendesk struct{}

// Name returns "zendesk".
func (Zendesk) Name() string { return "zendesk" }

// Verify is not implemented yet.
func (Zendesk) Verify(http.Header, url.Values, []byte, []byte, time.Time) error {
	return errors.Join(ErrUnauthorized, errors.New("zendesk webhooks are not implemented yet"))
}

// Map is not implemented yet.
func (Zendesk) Map(http.Header, []byte, *Labels) ([]Event, error) { return nil, nil }

// Labels returns no mapping yet.
func (Zendesk) Labels() Labels { return Labels{} }
