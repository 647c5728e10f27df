package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultEventBuffer is how many events a stream client may fall behind
// before it loses the oldest.
const DefaultEventBuffer = 256

// DefaultKeepAlive is how often an idle text/event-stream gets a comment,
// so that proxies keep the connection open.
const DefaultKeepAlive = 15 * time.Second

// EventsHandler streams an EventLog over HTTP until the client leaves or
// the log is closed. A client that accepts text/event-stream (or asks
// ?format=sse) gets Server-Sent Events, each with its sequence number as
// id, so that a reconnecting EventSource resumes after Last-Event-ID; a
// loss notice comes as an event of type "lost". Any other client gets the
// plain FIFO form, one line per event (text/plain), which `curl -N` or a
// script reading lines can follow. ?after=SEQ replays the kept events
// numbered above SEQ in both forms.
type EventsHandler struct {
	Log       *EventLog
	Buffer    int           // per-client buffer; 0 means DefaultEventBuffer
	KeepAlive time.Duration // SSE keep-alive period; 0 means DefaultKeepAlive
}

// ServeHTTP streams the log to one client.
func (h *EventsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sse := r.URL.Query().Get("format") == "sse" ||
		r.URL.Query().Get("format") == "" && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	after, hasAfter, err := resumePoint(r, sse)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	buf := h.Buffer
	if buf <= 0 {
		buf = DefaultEventBuffer
	}
	var sub *Subscription
	if hasAfter {
		sub = h.Log.SubscribeAfter(buf, after)
	} else {
		sub = h.Log.Subscribe(buf)
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Accel-Buffering", "no")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return // the writer cannot stream
	}
	bw := bufio.NewWriter(w)
	if sse {
		h.streamSSE(r.Context(), bw, rc, sub)
	} else {
		streamLines(r.Context(), bw, rc, sub)
	}
}

// resumePoint reads ?after=SEQ, or for SSE the Last-Event-ID header.
func resumePoint(r *http.Request, sse bool) (seq uint64, ok bool, err error) {
	v := r.URL.Query().Get("after")
	if v == "" && sse {
		v = r.Header.Get("Last-Event-ID")
	}
	if v == "" {
		return 0, false, nil
	}
	seq, err = strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("invalid event number %q", v)
	}
	return seq, true, nil
}

// streamLines writes one line per event, flushing each.
func streamLines(ctx context.Context, bw *bufio.Writer, rc *http.ResponseController, sub *Subscription) {
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return
		}
		bw.WriteString(ev.Line)
		bw.WriteByte('\n')
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
	}
}

// streamSSE writes events in text/event-stream framing, with a comment
// line whenever the stream has been idle for KeepAlive.
func (h *EventsHandler) streamSSE(ctx context.Context, bw *bufio.Writer, rc *http.ResponseController, sub *Subscription) {
	every := h.KeepAlive
	if every <= 0 {
		every = DefaultKeepAlive
	}
	for {
		wait, cancel := context.WithTimeout(ctx, every)
		ev, err := sub.Next(wait)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			bw.WriteString(": keep-alive\n\n")
		case err != nil:
			return
		case ev.Lost > 0:
			fmt.Fprintf(bw, "event: lost\ndata: %s\n\n", ev.Line)
		default:
			fmt.Fprintf(bw, "id: %d\ndata: %s\n\n", ev.Seq, ev.Line)
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
	}
}
