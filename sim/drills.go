package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvs/admin"
	"lvs/admin/client"
	"lvs/frame"
	"lvs/ha"
)

// The drills of issue 9 that are checks rather than failures: a forged
// heartbeat from a stranger, the roles as they must be, and config sync
// of an edited lvs.cf. They talk to each router's lvsd through its control
// socket (<run dir>/<node>.sock).

// routerFile is the lvs.cf of one router: each router has its own copy, so
// that config sync between them is visible.
func (s *Site) routerFile(node string) string {
	return filepath.Join(s.Dir, node+".lvs.cf")
}

// haStatus asks node's lvsd for its pair status.
func (s *Site) haStatus(ctx context.Context, node string) (admin.HAStatus, error) {
	cl := client.NewClient(filepath.Join(s.Dir, node+".sock"))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := cl.HA(ctx)
	if err != nil {
		return h, fmt.Errorf("asking lvsd on %s: %w", node, err)
	}
	return h, nil
}

// pairStatus returns the primary's and the backup's status.
func (s *Site) pairStatus(ctx context.Context) (p, b admin.HAStatus, err error) {
	if p, err = s.haStatus(ctx, s.resolve("primary")); err != nil {
		return
	}
	b, err = s.haStatus(ctx, s.resolve("backup"))
	return
}

// checkRoles is the check-roles drill: the primary is active and the
// backup standby (after a fault that must not cause a takeover, or after a
// failback).
func (s *Site) checkRoles(ctx context.Context) (string, error) {
	p, b, err := s.pairStatus(ctx)
	if err != nil {
		return "", err
	}
	if p.State != "active" || b.State != "standby" {
		return "", fmt.Errorf("primary is %s and backup %s; want active and standby", p.State, b.State)
	}
	return fmt.Sprintf("primary active (%d takeovers), backup standby (%d takeovers)", p.Takeovers, b.Takeovers), nil
}

// forgeCount is how many forged heartbeats the drill sends to each router.
const forgeCount = 10

// forgeHeartbeats is the forge-heartbeat drill: from node (a client), with
// the partner's address added to its interface for the moment, it sends each
// router heartbeats that claim to come from the other router, active, asking
// it to stand down, signed with a key that is not heartbeat_key. Neither
// router may change state, and each must count refusals.
func (s *Site) forgeHeartbeats(ctx context.Context, node string) (string, error) {
	cfg := s.Topo.Site.Config
	n := s.nodes[node]
	tn := s.Topo.Node(node)
	if n == nil || tn == nil || len(tn.Interfaces) == 0 {
		return "", fmt.Errorf("unknown node %s", node)
	}
	p0, b0, err := s.pairStatus(ctx)
	if err != nil {
		return "", err
	}
	link, err := n.Netlink().LinkByName(tn.Interfaces[0].Name)
	if err != nil {
		return "", fmt.Errorf("finding %s on %s: %w", tn.Interfaces[0].Name, node, err)
	}
	for _, pair := range [][2]netip.Addr{{cfg.Backup, cfg.Primary}, {cfg.Primary, cfg.Backup}} {
		from, to := pair[0], pair[1]
		role := ha.RoleBackup
		if from == cfg.Primary {
			role = ha.RolePrimary
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: from.AsSlice(), Mask: net.CIDRMask(32, 32)}}
		if err := n.Netlink().AddrAdd(link, addr); err != nil {
			return "", fmt.Errorf("adding %v to %s: %w", from, node, err)
		}
		err := n.Do(func() error { return sendForged(from, to, cfg.HeartbeatPort, role) })
		n.Netlink().AddrDel(link, addr)
		if err != nil {
			return "", err
		}
	}
	time.Sleep(2 * cfg.Keepalive)
	p1, b1, err := s.pairStatus(ctx)
	if err != nil {
		return "", err
	}
	if p1.State != p0.State || b1.State != b0.State || p1.Takeovers != p0.Takeovers || b1.Takeovers != b0.Takeovers {
		return "", fmt.Errorf("forged heartbeats changed the roles: primary %s→%s, backup %s→%s", p0.State, p1.State, b0.State, b1.State)
	}
	refused := func(h admin.HAStatus) (n uint64) {
		for _, v := range h.Refused {
			n += v
		}
		return n
	}
	dp, db := refused(p1)-refused(p0), refused(b1)-refused(b0)
	if dp == 0 || db == 0 {
		return "", fmt.Errorf("forged heartbeats were not refused (primary refused %d more, backup %d more; refusals before %v %v, after %v %v)",
			dp, db, p0.Refused, b0.Refused, p1.Refused, b1.Refused)
	}
	return fmt.Sprintf("%d forged heartbeats from %s to each router: roles unchanged, refused %d (primary) and %d (backup)",
		forgeCount, node, dp, db), nil
}

// sendForged sends forgeCount heartbeats from from to to:port claiming
// role, state active, with a stand-down request, signed with a wrong key.
func sendForged(from, to netip.Addr, port uint16, role ha.Role) error {
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, port)),
		net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, port)))
	if err != nil {
		return fmt.Errorf("sending forged heartbeats from %v: %w", from, err)
	}
	defer c.Close()
	boot := uint64(time.Now().UnixNano())
	for i := range forgeCount {
		m := ha.Message{Role: role, State: ha.StateActive, Flags: ha.FlagStandDown, Node: from,
			Boot: boot, Seq: uint64(i + 1), Time: time.Now().UnixNano()}
		if _, err := c.Write(m.Encode(nil, []byte("not the heartbeat_key"))); err != nil {
			return fmt.Errorf("sending a forged heartbeat: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

var serialLine = regexp.MustCompile(`(?m)^serial_no\s*=\s*(\d+)`)

// configSyncWait bounds the edit-config drill: the active router offers a
// changed file at once after its reload.
const configSyncWait = 30 * time.Second

// editConfig is the edit-config drill: the active router's lvs.cf gets a
// new serial_no and a comment, lvsd reloads it (SIGHUP), and config sync
// must bring the partner's file to the same bytes and serial.
func (s *Site) editConfig(ctx context.Context, node string) (string, error) {
	path := s.routerFile(node)
	text, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := serialLine.FindSubmatchIndex(text)
	if m == nil {
		return "", fmt.Errorf("%s has no serial_no line", path)
	}
	serial, _ := strconv.Atoi(string(text[m[2]:m[3]]))
	serial++
	edited := append(append(append([]byte{}, text[:m[2]]...), strconv.Itoa(serial)...), text[m[3]:]...)
	edited = append(edited, fmt.Sprintf("# edited by lvssim at %s\n", time.Now().UTC().Format(time.RFC3339))...)
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		return "", err
	}
	p := s.Router.Process(node)
	if p == nil {
		return "", fmt.Errorf("no router process on %s", node)
	}
	start := time.Now()
	if err := p.Signal(syscall.SIGHUP); err != nil {
		return "", err
	}
	other := s.resolve("backup")
	if other == node {
		other = s.resolve("primary")
	}
	for time.Since(start) < configSyncWait {
		got, _ := os.ReadFile(s.routerFile(other))
		if bytes.Equal(got, edited) {
			h, err := s.haStatus(ctx, other)
			if err == nil && h.Serial == uint32(serial) {
				return fmt.Sprintf("%s reloaded serial_no %d; %s has the same lvs.cf and runs it after %.1fs",
					node, serial, other, time.Since(start).Seconds()), nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	h, err := s.haStatus(ctx, other)
	if err != nil {
		return "", err
	}
	why := "no config sync status"
	if h.ConfigSync != nil {
		why = fmt.Sprintf("%+v", *h.ConfigSync)
	}
	return "", errors.New("config sync: " + other + " did not get serial_no " + strconv.Itoa(serial) +
		" within " + configSyncWait.String() + " (" + why + ")")
}

// arpWindow is how long the arp-owners check listens for replies.
const arpWindow = time.Second

// arpOwners is the arp-owners check: from node's interface (on the segment
// of the VIPs, like the gateway), it asks who has each active VIP and
// listens for a second; exactly one MAC may answer for each (no split
// brain: the guide's two routers never both answer after one keepalive).
func (s *Site) arpOwners(node, iface string) (string, error) {
	n := s.nodes[node]
	if n == nil {
		return "", fmt.Errorf("unknown node %s", node)
	}
	var vips []netip.Addr
	for _, v := range s.Topo.Site.Config.Virtuals {
		if v.Active && !slices.Contains(vips, v.Address) {
			vips = append(vips, v.Address)
		}
	}
	var out []string
	err := n.Do(func() error {
		for _, vip := range vips {
			macs, err := arpAsk(iface, vip)
			if err != nil {
				return err
			}
			if len(macs) != 1 {
				return fmt.Errorf("who-has %v from %s: %d MACs answered %v; want exactly one", vip, node, len(macs), macs)
			}
			out = append(out, fmt.Sprintf("%v is at %s", vip, macs[0]))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return strings.Join(out, "; ") + " (one owner each)", nil
}

// arpAsk sends three who-has requests for ip on iface (of the calling
// thread's namespace) and returns the distinct MACs that replied within
// arpWindow.
func arpAsk(iface string, ip netip.Addr) ([]string, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	var src netip.Addr
	if addrs, err := ifi.Addrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				src = p.Addr()
				break
			}
		}
	}
	if !src.IsValid() {
		return nil, fmt.Errorf("%s has no IPv4 address to ask from", iface)
	}
	proto := int(htons(unix.ETH_P_ARP))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("opening an ARP socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("binding the ARP socket to %s: %w", iface, err)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	req := make([]byte, 64)
	n := frame.PutARPRequest(req, frame.MAC(ifi.HardwareAddr), src, ip)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	seen := map[string]bool{}
	var macs []string
	buf := make([]byte, 1500)
	end := time.Now().Add(arpWindow)
	for sent := 0; time.Now().Before(end); {
		if sent < 3 {
			if err := unix.Sendto(fd, req[:n], 0, to); err != nil {
				return nil, fmt.Errorf("sending who-has %v: %w", ip, err)
			}
			sent++
		}
		m, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || m < frame.ARPFrameLen {
			continue
		}
		a := frame.ARP(buf[14:m])
		if !a.Valid() || a.Op() != frame.ARPReply || a.SenderIP() != ip {
			continue
		}
		if mac := a.SenderMAC().String(); !seen[mac] {
			seen[mac] = true
			macs = append(macs, mac)
		}
	}
	return macs, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
