package health

import (
	"fmt"
	"net/netip"
)

// Sorry is the sorry server of one virtual service as a step function, after
// lvs's checkClientMonitor: when no real server of the service is up the
// sorry server is added with weight 1, and when one is up again it is
// removed. It does no I/O.
//
// lvs started by assuming the service alive and looked every 5 s, so a
// service whose nannies had not reported yet got its sorry server for a
// moment. Here the sorry server waits until every real server has been
// checked once (settled), so a starting director does not flap it; and a
// server drained by its agent counts as not up, since it takes no new
// connections.
type Sorry struct {
	virtual string
	addr    netip.AddrPort
	in      bool // the sorry server is in the table
}

// NewSorry returns the sorry server addr (sorry_server and the virtual port)
// of the virtual service named virtual, not yet in the table.
func NewSorry(virtual string, addr netip.AddrPort) *Sorry {
	return &Sorry{virtual: virtual, addr: addr}
}

// Step takes the number of real servers of the service that are up and
// whether every one of them has been checked, and returns what to do with
// the sorry server.
func (s *Sorry) Step(up int, settled bool) []Action {
	switch {
	case up == 0 && settled && !s.in:
		s.in = true
		return []Action{{Kind: ActAdd, Weight: 1,
			Msg: fmt.Sprintf("Virtual Server %s: No real servers; activate sorry_server %s", s.virtual, s.addr.Addr())}}
	case up > 0 && s.in:
		s.in = false
		return []Action{{Kind: ActRemove,
			Msg: fmt.Sprintf("Virtual Server %s: %d real servers; deactivate sorry_server %s", s.virtual, up, s.addr.Addr())}}
	}
	return nil
}

// IsIn reports whether the sorry server is in the table.
func (s *Sorry) IsIn() bool { return s.in }

// Addr returns the sorry server's address and port.
func (s *Sorry) Addr() netip.AddrPort { return s.addr }
