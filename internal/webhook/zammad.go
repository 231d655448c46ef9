package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Zammad maps Zammad webhooks. Not implemented yet.
type Zammad struct{}

// Name returns "zammad".
func (Zammad) Name() string { return "zammad" }

// Verify is not implemented yet.
func (Zammad) Verify(http.Header, url.Values, []byte, []byte, time.Time) error {
	return errors.Join(ErrUnauthorized, errors.New("zammad webhooks are not implemented yet"))
}

// Map is not implemented yet.
func (Zammad) Map(http.Header, []byte, *Labels) ([]Event, error) { return nil, nil }

// Labels returns no mapping yet.
func (Zammad) Labels() Labels { return Labels{} }
