package api

import (
	"context"
	"errors"
	"testing"

	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

func TestErrorFor(t *testing.T) {
	tests := []struct {
		err  error
		code string
		idx  int
	}{
		{&ipvsadm.CommandError{Index: 3, Err: ipvs.ErrServiceExists}, CodeServiceExists, 3},
		{ipvs.ErrBadWeight, CodeInvalid, -1},
		{ipvsadm.ErrNoScheduler, CodeNoScheduler, -1},
		{context.Canceled, CodeUnavailable, -1},
		{errors.New("disk on fire"), CodeFailed, -1},
	}
	for _, tt := range tests {
		if got := errorFor(tt.err); got.Code != tt.code || got.Index != tt.idx {
			t.Errorf("errorFor(%v) = %s@%d, want %s@%d", tt.err, got.Code, got.Index, tt.code, tt.idx)
		}
	}
}
