package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Chatwoot maps Chatwoot webhooks. Not implemented yet.
type Chatwoot struct{}

// Name returns "chatwoot".
func (Chatwoot) Name() string { return "chatwoot" }

// Verify is not implemented yet.
func (Chatwoot) Verify(http.Header, url.Values, []byte, []byte, time.Time) error {
	return errors.Join(ErrUnauthorized, errors.New("chatwoot webhooks are not implemented yet"))
}

// Map is not implemented yet.
func (Chatwoot) Map(http.Header, []byte, *Labels) ([]Event, error) { return nil, nil }

// Labels returns no mapping yet.
func (Chatwoot) Labels() Labels { return Labels{} }
