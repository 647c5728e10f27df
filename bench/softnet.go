package bench

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Backlog is one CPU's line of /proc/net/softnet_stat: the frames its
// receive backlog (the queue netif_rx and RPS fill, veths included)
// processed, and the frames dropped because that queue was full (it holds
// net.core.netdev_max_backlog frames).
type Backlog struct {
	Processed, Dropped uint64
}

// softnetCPUField is the column of softnet_stat that names the line's CPU
// (Linux 5.10 and later; older kernels list online CPUs in order without it).
const softnetCPUField = 12

// ParseSoftnet reads /proc/net/softnet_stat (hexadecimal columns, one line
// per online CPU) into one entry per CPU, by number. The counters are the
// kernel's 32-bit ones: take differences with wrap32.
func ParseSoftnet(r io.Reader) ([]Backlog, error) {
	var out []Backlog
	sc := bufio.NewScanner(r)
	for line := 0; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("softnet_stat: short line %q", sc.Text())
		}
		var v [softnetCPUField + 1]uint64
		for i := range min(len(f), len(v)) {
			x, err := strconv.ParseUint(f[i], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("softnet_stat: bad field in %q: %w", sc.Text(), err)
			}
			v[i] = x
		}
		cpu := line
		if len(f) > softnetCPUField {
			cpu = int(v[softnetCPUField])
		}
		if cpu > 4096 {
			return nil, fmt.Errorf("softnet_stat: cpu %d in %q", cpu, sc.Text())
		}
		for len(out) <= cpu {
			out = append(out, Backlog{})
		}
		out[cpu] = Backlog{Processed: v[0], Dropped: v[1]}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("softnet_stat: no lines")
	}
	return out, nil
}

// wrap32 is b - a for counters the kernel keeps in 32 bits.
func wrap32(a, b uint64) uint64 { return uint64(uint32(b) - uint32(a)) }

// backlogDrops is the frames cpu's backlog dropped between a and b (0 when
// either sample lacks the CPU).
func backlogDrops(a, b []Backlog, cpu int) uint64 {
	if cpu < 0 || cpu >= len(a) || cpu >= len(b) {
		return 0
	}
	return wrap32(a[cpu].Dropped, b[cpu].Dropped)
}

// parseCPUMask reads a CPU mask as sysfs prints it (rps_cpus: hexadecimal
// 32-bit groups separated by commas, the lowest CPUs last).
func parseCPUMask(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.NewReplacer(",", "", "\n", "", " ", "").Replace(s), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("CPU mask %q: %w", strings.TrimSpace(s), err)
	}
	return v, nil
}
