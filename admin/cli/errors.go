package cli

import (
	"errors"

	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

// IpvsadmMessage returns what ipvsadm prints for err when command k fails
// (ipvs_strerror in libipvs.c): "Service already exists", "No such
// service", or "Service not defined" for a server command, and so on.
// Errors ipvsadm has no words for keep their own text.
func IpvsadmMessage(err error, k ipvsadm.Kind) string {
	var ue *ipvsadm.UsageError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	server := k == ipvsadm.KindAddDest || k == ipvsadm.KindEditDest || k == ipvsadm.KindDelDest
	switch {
	case errors.Is(err, ipvsadm.ErrNoScheduler):
		return ipvsadm.ErrNoScheduler.Error()
	case errors.Is(err, ipvs.ErrServiceExists):
		return "Service already exists"
	case errors.Is(err, ipvs.ErrNoService) && server:
		return "Service not defined"
	case errors.Is(err, ipvs.ErrNoService):
		return "No such service"
	case errors.Is(err, ipvs.ErrDestExists):
		return "Destination already exists"
	case errors.Is(err, ipvs.ErrNoDest):
		return "No such destination"
	}
	var ae *api.APIError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
