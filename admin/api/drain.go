package api

import (
	"context"
	"net/http"
)

// PathDrain is POST: drain this director ({"drain": true}: withdraw every
// VIP from the BGP peers while lvsd keeps forwarding what still comes) or
// undrain it ({"drain": false}). Served when the Daemon is a Drainer.
const PathDrain = "/v1/drain"

// DrainRequest is the body of POST /v1/drain.
type DrainRequest struct {
	Drain bool `json:"drain"`
}

// Drainer is the optional part of a Daemon that announces its VIPs by BGP.
type Drainer interface {
	Drain(ctx context.Context, on bool) error
}

// drainRoutes adds POST /v1/drain to s when its Daemon is a Drainer.
func (s *Server) drainRoutes() {
	dr, ok := s.d.(Drainer)
	if !ok {
		return
	}
	s.mux.HandleFunc("POST "+PathDrain, func(w http.ResponseWriter, r *http.Request) {
		var req DrainRequest
		if !decode(w, r, &req) {
			return
		}
		if err := dr.Drain(r.Context(), req.Drain); err != nil {
			replyError(w, &APIError{Status: http.StatusConflict, Code: CodeFailed, Index: -1, Message: err.Error()})
			return
		}
		reply(w, struct{}{})
	})
}
