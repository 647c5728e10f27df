package fastpath

import "github.com/cilium/ebpf/asm"

// The IPv6 branch of the tcx program. It takes what the IPv4 branch takes,
// in IPv6 terms: an untagged frame whose next header is TCP or UDP itself
// (any extension header — hop-by-hop, routing, fragment, destination
// options — and ICMPv6, Neighbour Discovery with it, go to the Go path),
// with a hop limit above 1, of an established flow in the IPv6 flow map.
// Its rewrite is NAT66's or direct routing's: MAC addresses, the 16-byte
// addresses and ports, the hop limit, and the L4 checksum by the
// differences Go computed (flow6.go); IPv6 has no header checksum.

// Frame offsets of an untagged Ethernet + IPv6 frame without extension
// headers.
const (
	fr6HopLimit = 21
	fr6Addrs    = 22
	fr6TCPFlag  = 67
	fr6TCPCsum  = 70
	fr6UDPCsum  = 60
	// The branch copies frame[fr6Load : fr6Load+load6Len] — payload
	// length, next header, hop limit, addresses, ports — to the stack at
	// st6Buf, so that the addresses and ports land where the key is.
	fr6Load  = 18
	load6Len = 40
)

// Stack of the IPv6 branch, below classify's (IPv4's new-flow path uses
// it too; IPv6's keeps below it: newflow6.go).
const (
	st6Buf      = -108
	st6NextHdr  = st6Buf + 2
	st6HopLimit = st6Buf + 3
	st6Key      = st6Buf + 4 // key6Len bytes: the loaded addresses and ports, then the protocol
	ethIPv6     = 0xdd86     // 86 dd read little-endian
)

// Labels of the IPv6 branch.
const (
	lTCP6 = "tcp6"
	lKey6 = "key6"
)

// classify6 is classify for an IPv6 frame, entered at lV6 with R6 = the
// context and R0 = the EtherType. A frame of no flow goes to the IPv6
// new-flow path (newflow6.go). It falls through when the fast path takes
// the frame, with the registers as classify leaves them.
func classify6(flows6, reuse int) asm.Instructions {
	insns := asm.Instructions{
		asm.JNE.Imm(asm.R0, ethIPv6, lPunt).WithSymbol(lV6),
		asm.LoadMem(asm.R0, asm.RFP, stVIHL, asm.Byte),
		asm.And.Imm(asm.R0, 0xf0),
		asm.JNE.Imm(asm.R0, 0x60, lPunt),
		// bpf_skb_load_bytes(skb, fr6Load, fp+st6Buf, load6Len)
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, fr6Load),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, st6Buf),
		asm.Mov.Imm(asm.R4, load6Len),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, lPunt),
		asm.LoadMem(asm.R0, asm.RFP, st6HopLimit, asm.Byte),
		asm.JLE.Imm(asm.R0, 1, lPunt), // the Go path answers time exceeded
		asm.Mov.Imm(asm.R9, 0),
		// TCP or UDP right after the fixed header: every extension header
		// (and ICMPv6) is the Go path's.
		asm.LoadMem(asm.R8, asm.RFP, st6NextHdr, asm.Byte),
		asm.JEq.Imm(asm.R8, protoTCP, lTCP6),
		asm.JNE.Imm(asm.R8, protoUDP, lPunt),
		asm.Ja.Label(lKey6),
	}
	insns = append(insns, tcpFlags(lTCP6, fr6TCPFlag, 0)...) // a FIN or RST is reported (close.go)
	insns = append(insns,
		// The key: the loaded addresses and ports, then the protocol.
		asm.StoreMem(asm.RFP, st6Key+36, asm.R8, asm.Word).WithSymbol(lKey6),
		asm.LoadMapPtr(asm.R1, flows6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, st6Key),
	)
	return append(insns, lookup(lNew+sfx6, sfx6, reuse)...)
}

// rewrite6 is the tcx program's IPv6 rewrite after account: addresses and
// ports, hop limit, L4 checksum, and the redirect.
func rewrite6(flows6 int) asm.Instructions {
	insns := rewrite(fr6Addrs, valAddrs6, 36, st6HopLimit, fr6HopLimit, lNoTTL+sfx6)
	insns = append(insns,
		// skb->csum of a CHECKSUM_COMPLETE frame: bpf_csum_update adds
		// valCsumFix to it (and does nothing to any other frame), so it
		// ends where the frame's new bytes put it (flow6.go).
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(lNoTTL+sfx6),
		asm.LoadMem(asm.R2, asm.R7, valCsumFix, asm.Word),
		asm.FnCsumUpdate.Call(),
	)
	insns = append(insns, l4Csum(fr6TCPCsum, fr6UDPCsum, sfx6)...)
	return append(insns, redirect(lRedirect+sfx6, flows6, st6Key)...)
}
