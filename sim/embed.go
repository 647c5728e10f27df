package sim

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed topologies/*.yaml
var shipped embed.FS

// DefaultTopology is the site `lvssim run` builds with no argument: the
// guide's figure 1.1.
const DefaultTopology = "nat"

// embeddedPrefix names embedded topology files in messages.
const embeddedPrefix = "embedded:"

// ShippedTopologies lists the names of the topologies shipped in
// sim/topologies.
func ShippedTopologies() []string {
	ents, _ := shipped.ReadDir("topologies")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

// ShippedTopology returns the text of a shipped topology.
func ShippedTopology(name string) ([]byte, error) {
	return shipped.ReadFile("topologies/" + name + ".yaml")
}

// ShippedHelp lists the shipped topologies with their descriptions, one a
// line, for --help.
func ShippedHelp() string {
	var b strings.Builder
	for _, name := range ShippedTopologies() {
		desc := ""
		if t, err := LoadTopology(name); err == nil {
			desc = t.Description
		}
		fmt.Fprintf(&b, "  %-11s %s\n", name, desc)
	}
	return b.String()
}
