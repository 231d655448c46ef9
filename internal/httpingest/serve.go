package httpingest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// serveEvents is POST /api/v1/events.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	const src = SourceAPI
	if len(h.cfg.Tokens) == 0 {
		h.answer(w, src, resultOff, http.StatusNotFound, errorBody("HTTP ingest is off: start the aggregator with -ingest-token-file naming a file of bearer tokens"))
		return
	}
	if err := h.checkToken(r); err != nil {
		h.warnf(src, resultUnauthorized, err)
		h.answer(w, src, resultUnauthorized, http.StatusUnauthorized, errorBody(errText(err)))
		return
	}
	if !h.limited(w, src) {
		return
	}
	body, err := readBody(w, r, h.cfg.MaxBody)
	if err == nil {
		var raws [][]byte
		if raws, err = splitEvents(body, h.cfg.MaxEvents); err == nil {
			h.publish(r.Context(), w, src, raws)
			return
		}
	}
	status, result, msg := bodyError(err)
	h.warnf(src, result, err)
	h.answer(w, src, result, status, errorBody(msg))
}

// checkToken checks the request's bearer token against the configured
// ones, in constant time for each.
func (h *Handler) checkToken(r *http.Request) error {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return errors.New("send a token from the -ingest-token-file as \"Authorization: Bearer <token>\"")
	}
	match := 0
	for _, t := range h.cfg.Tokens {
		match |= subtle.ConstantTimeCompare([]byte(tok), t)
	}
	if match != 1 {
		return errors.New("unknown token")
	}
	return nil
}

// serveWebhook is POST /api/v1/webhooks/{source}.
func (h *Handler) serveWebhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	_, known := h.sources[name]
	if !known {
		// Not counted: the label would be the caller's to choose.
		writeJSON(w, http.StatusNotFound, errorBody(fmt.Sprintf("no webhook source %q; use zendesk, chatwoot, zammad, jira or freshdesk", name)))
		return
	}
	hook, on := h.cfg.Webhooks[name]
	if !on {
		h.answer(w, name, resultOff, http.StatusNotFound,
			errorBody(fmt.Sprintf("the %s webhook is off: set ingest.webhooks.%s.secret_file in the configuration", name, name)))
		return
	}
	if !h.limited(w, name) {
		return
	}
	src := hook.Source
	body, err := readBody(w, r, h.cfg.MaxBody)
	if err != nil {
		status, result, msg := bodyError(err)
		h.warnf(name, result, err)
		h.answer(w, name, result, status, errorBody(msg))
		return
	}
	if err := src.Verify(r.Header, r.URL.Query(), body, hook.Secret, h.now()); err != nil {
		h.warnf(name, resultUnauthorized, err)
		h.answer(w, name, resultUnauthorized, http.StatusUnauthorized, errorBody(errText(err)))
		return
	}
	evs, err := src.Map(r.Header, body, &hook.Labels)
	if err != nil {
		// Answered 400 so that the helpdesk stops retrying, and kept in
		// the dead-letter stream so that nothing is lost.
		h.deadLetter(r.Context(), name, body, err)
		h.warnf(name, resultBadRequest, err)
		h.answer(w, name, resultBadRequest, http.StatusBadRequest, errorBody(errText(err)))
		return
	}
	if len(evs) == 0 {
		h.answer(w, name, resultUnmapped, http.StatusAccepted, outcome{Rejected: []rejection{}})
		return
	}
	raws := make([][]byte, len(evs))
	for i := range evs {
		if raws[i], err = json.Marshal(&evs[i]); err != nil {
			h.answer(w, name, resultBadRequest, http.StatusBadRequest, errorBody(errText(err)))
			return
		}
	}
	h.publish(r.Context(), w, name, raws)
}

// publish validates raws with the aggregator's decoder, publishes the
// valid ones and answers with the outcome.
func (h *Handler) publish(ctx context.Context, w http.ResponseWriter, src string, raws [][]byte) {
	out := outcome{Rejected: []rejection{}}
	var msgs []*nats.Msg
	var ev events.Event
	limit := h.now().Add(h.cfg.MaxClockSkew).UnixNano()
	for i, raw := range raws {
		err := events.Decode(raw, &ev)
		if err == nil && ev.OccurredAt > limit {
			err = &events.Error{Reason: events.ReasonFuture, Field: "occurred_at",
				Detail: fmt.Sprintf("more than %v ahead of the aggregator's clock", h.cfg.MaxClockSkew)}
		}
		var rej *events.Error
		if errors.As(err, &rej) {
			out.Rejected = append(out.Rejected, rejection{Index: i, Reason: string(rej.Reason), Error: rej.Error()})
			continue
		} else if err != nil {
			out.Rejected = append(out.Rejected, rejection{Index: i, Reason: string(events.ReasonInvalidJSON), Error: err.Error()})
			continue
		}
		m := nats.NewMsg(h.cfg.SubjectPrefix + ev.Type.String())
		m.Header.Set(nats.MsgIdHdr, string(ev.ID))
		m.Data = raw
		msgs = append(msgs, m)
	}
	h.m.events.WithLabelValues(src, "rejected").Add(float64(len(out.Rejected)))
	if len(msgs) > 0 {
		ctx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
		defer cancel()
		dup, err := h.pub.Publish(ctx, msgs)
		if err != nil {
			h.warnf(src, resultUnavailable, err)
			h.answer(w, src, resultUnavailable, http.StatusServiceUnavailable,
				errorBody("JetStream did not acknowledge every event; retry the request (events already stored are duplicates then): "+err.Error()))
			return
		}
		for _, d := range dup {
			if d {
				out.Duplicates++
			} else {
				out.Accepted++
			}
		}
	}
	h.m.events.WithLabelValues(src, "accepted").Add(float64(out.Accepted))
	h.m.events.WithLabelValues(src, "duplicate").Add(float64(out.Duplicates))
	result := resultAccepted
	if len(out.Rejected) > 0 {
		result = resultPartial
	}
	h.answer(w, src, result, http.StatusOK, out)
}

// deadLetter keeps a webhook payload that cannot be read in the
// dead-letter stream, with its source and reason.
func (h *Handler) deadLetter(ctx context.Context, src string, body []byte, reason error) {
	if h.cfg.DeadLetterSubject == "" {
		return
	}
	m := nats.NewMsg(h.cfg.DeadLetterSubject)
	m.Header.Set("Helpdesk-Source", src)
	m.Header.Set("Helpdesk-Reject-Reason", "bad_payload")
	m.Header.Set("Helpdesk-Reject-Error", reason.Error())
	m.Data = body
	ctx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
	defer cancel()
	if _, err := h.pub.Publish(ctx, []*nats.Msg{m}); err != nil {
		h.log.Error().Err(err).Str("source", src).Msg("could not dead-letter a webhook payload that cannot be read")
	}
}
