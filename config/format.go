package config

import (
	"bytes"
	"net/netip"
	"slices"
)

// Indentation of Format, as the Piranha GUI writes lvs.cf (reference §1.5):
// keys of a block are indented by five spaces, keys of a server block
// by nine, and closing braces line up with their block's first word.
// (Piranha's own C merge code, lvsMergeConfig, uses tabs; the GUI's layout
// is the one found in the wild and in the guide's era of files.)
const (
	indentBlock  = "     "
	indentServer = "         "
)

// Format writes c as an lvs.cf file: the global keys, then fwmark_rule
// and masquerade blocks, then virtual and failover blocks. Within a block,
// keys that came from a file keep their order (Virtual.Keys and friends)
// and are written even when they hold the default; other keys are written
// in the canonical order when they differ from the default (a block built
// in code, with no Keys, also gets a few keys always: service, network,
// and a server's address and active). Comments and
// blank lines of the original file are not kept.
//
// For every c returned by Parse without error, Parse(Format(c)) equals c
// except for line numbers.
func Format(c *Config) []byte {
	var b bytes.Buffer
	writeKeys(&b, "", globalKeys, c, NewConfig(), c.Keys)
	writeBGP(&b, c)
	for _, r := range c.FWMarkRules {
		b.WriteString("fwmark_rule " + quoteValue(r.Name, false) + " {\n")
		writeKeys(&b, indentBlock, markKeys, r, &FWMarkBlock{}, r.Keys)
		b.WriteString("}\n")
	}
	for _, r := range c.Masquerades {
		b.WriteString("masquerade " + quoteValue(r.Name, false) + " {\n")
		writeKeys(&b, indentBlock, masqKeys, r, &MasqueradeBlock{}, r.Keys)
		b.WriteString("}\n")
	}
	for _, v := range c.Virtuals {
		writeVirtual(&b, "virtual", v)
	}
	for _, v := range c.Failovers {
		writeVirtual(&b, "failover", v)
	}
	return b.Bytes()
}

func writeVirtual(b *bytes.Buffer, kind string, v *Virtual) {
	b.WriteString(kind + " " + quoteValue(v.Name, false) + " {\n")
	def := NewVirtual("")
	if v.IsIPv6() {
		// Defaults that depend on the family (an unset pmask is /128 for
		// IPv6, 255.255.255.255 for IPv4) compare with the same family's.
		def.Address = netip.IPv6Unspecified()
	}
	writeKeys(b, indentBlock, virtualKeys, v, def, v.Keys)
	for _, s := range v.Servers {
		b.WriteString(indentBlock + "server " + quoteValue(s.Name, false) + " {\n")
		writeKeys(b, indentServer, serverKeys, s, NewServer(""), s.Keys)
		b.WriteString(indentBlock + "}\n")
	}
	b.WriteString("}\n")
}

// writeKeys writes the keys listed in order, then every other key whose
// value differs from the one in def (or that is always written).
func writeKeys[T any](b *bytes.Buffer, indent string, defs []keyDef[T], x, def *T, order []string) {
	line := func(d *keyDef[T]) {
		if val, ok := d.get(x); ok {
			b.WriteString(indent + d.name + " = " + val + "\n")
		}
	}
	for _, name := range order {
		for i := range defs {
			if defs[i].name == name {
				line(&defs[i])
			}
		}
	}
	for i := range defs {
		d := &defs[i]
		if slices.Contains(order, d.name) {
			continue
		}
		val, ok := d.get(x)
		dv, dok := d.get(def)
		if ok && ((d.always && order == nil) || !dok || val != dv) {
			line(d)
		}
	}
}
