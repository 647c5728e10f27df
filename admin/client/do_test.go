package client

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"lvs/admin/api"
	"lvs/admin/api/apitest"
)

// TestDoErrors: requests lvsadm never makes are answered with the API's
// JSON errors.
func TestDoErrors(t *testing.T) {
	c := NewClient(apitest.Serve(t, apitest.NewDaemon(t, nil)))
	defer c.Close()
	ctx := context.Background()
	var ae *api.APIError
	if err := c.do(ctx, http.MethodGet, "/v2/status", nil, nil); !errors.As(err, &ae) || ae.Code != api.CodeNotFound {
		t.Errorf("GET /v2/status = %v, want not_found", err)
	}
	if err := c.do(ctx, http.MethodPost, api.PathCommand, map[string]int{"bogus": 1}, nil); !errors.As(err, &ae) || ae.Code != api.CodeBadRequest {
		t.Errorf("POST unknown field = %v, want bad_request", err)
	}
}
