package api

import (
	"context"
	"errors"
	"net/http"

	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

// The error codes of the API. Each names a condition a client branches on;
// the client maps them back to the ipvs sentinels and to ipvsadm's messages.
const (
	CodeServiceExists = "service_exists"  // ipvs.ErrServiceExists
	CodeNoService     = "no_service"      // ipvs.ErrNoService
	CodeDestExists    = "dest_exists"     // ipvs.ErrDestExists
	CodeNoDest        = "no_dest"         // ipvs.ErrNoDest
	CodeNoScheduler   = "no_scheduler"    // ErrNoScheduler
	CodeInvalid       = "invalid"         // ipvs.ErrBadWeight, ipvs.ErrBadKey
	CodeBadRequest    = "bad_request"     // a request the API cannot decode or accept
	CodeNotFound      = "not_found"       // no such endpoint
	CodeUnavailable   = "unavailable"     // the daemon is stopping or the request was abandoned
	CodeUnauthorized  = "unauthorized"    // the TCP admin listener wants a login or an API token
	CodeRateLimited   = "rate_limited"    // too many failed logins or tokens from this client
	CodeForbidden     = "forbidden"       // a cross-origin request on the strength of a cookie
	CodeFailed        = "failed"          // anything else
	CodeUnknown       = "unknown_failure" // a non-JSON answer (not lvsd on the socket?)
)

// APIError is an error answer of the API, as the server sends it and the
// client returns it.
type APIError struct {
	Status  int    `json:"-"`       // HTTP status
	Code    string `json:"code"`    // one of the Code… constants
	Message string `json:"message"` // the daemon's error text
	// Index is the position of the failed command in a /v1/command batch,
	// or -1.
	Index int `json:"index"`
}

// Error returns the daemon's message, marked as lvsd's.
func (e *APIError) Error() string { return "lvsd: " + e.Message }

// WriteError sends e as the API's JSON error answer ({"error": {...}}
// with e.Status), for handlers outside this package that guard the API.
func WriteError(w http.ResponseWriter, e *APIError) { replyError(w, e) }

// codeSentinels maps codes to the errors errors.Is matches them with.
var codeSentinels = map[string]error{
	CodeServiceExists: ipvs.ErrServiceExists, CodeNoService: ipvs.ErrNoService,
	CodeDestExists: ipvs.ErrDestExists, CodeNoDest: ipvs.ErrNoDest, CodeNoScheduler: ipvsadm.ErrNoScheduler,
}

// Is makes errors.Is(err, ipvs.ErrNoService) and the like work on the
// client side.
func (e *APIError) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// errorFor turns a Daemon error into the API's answer.
func errorFor(err error) *APIError {
	e := &APIError{Status: http.StatusConflict, Message: err.Error(), Index: -1}
	var ce *ipvsadm.CommandError
	if errors.As(err, &ce) {
		e.Index = ce.Index
	}
	switch {
	case errors.Is(err, ipvs.ErrServiceExists):
		e.Code = CodeServiceExists
	case errors.Is(err, ipvs.ErrNoService):
		e.Status, e.Code = http.StatusNotFound, CodeNoService
	case errors.Is(err, ipvs.ErrDestExists):
		e.Code = CodeDestExists
	case errors.Is(err, ipvs.ErrNoDest):
		e.Status, e.Code = http.StatusNotFound, CodeNoDest
	case errors.Is(err, ipvsadm.ErrNoScheduler):
		e.Status, e.Code = http.StatusBadRequest, CodeNoScheduler
	case errors.Is(err, ipvs.ErrBadWeight), errors.Is(err, ipvs.ErrBadKey), errors.Is(err, ipvsadm.ErrNotEdit):
		e.Status, e.Code = http.StatusBadRequest, CodeInvalid
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Status, e.Code = http.StatusServiceUnavailable, CodeUnavailable
	default:
		e.Status, e.Code = http.StatusInternalServerError, CodeFailed
	}
	return e
}
