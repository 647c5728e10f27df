package daemon

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"lvs/admin"
	"lvs/admin/ipvsadm"
	"lvs/config"
	"lvs/ipvs"
	"lvs/sched"
)

// edit6Cf is a NAT site with IPv6 services: an address one and the
// firewall-mark one of mark 81 (lvsadm's -f 81 -6).
const edit6Cf = `serial_no = 1
primary = 192.168.26.9
service = lvs
network = nat
nat_router = 10.11.12.10 eth1:1
nat_nmask = 255.255.255.0
nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
virtual web6 {
     active = 1
     address = 2001:db8:26::10 eth0:1
     port = 80
     persistent = 300
     pmask = 64
     scheduler = wlc
     server web6a {
         address = fd00:11:12::1
         active = 1
         weight = 1
     }
}
virtual mark6 {
     active = 1
     address = 2001:db8:26::13 eth0:1
     port = 80
     fwmark = 81
     scheduler = rr
     server mark6a {
         address = fd00:11:12::5
         active = 1
         weight = 1
     }
}
`

// edit6Table is the table lvsd builds from c (Desired, Reconcile), as
// lvsadm -S -n writes it.
func edit6Table(t *testing.T, c *config.Config) string {
	t.Helper()
	tb, err := Reconcile(ipvs.NewTable(ipvs.NewRegistry(), sched.New), Desired(c, nil))
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	var b bytes.Buffer
	if err := ipvsadm.WriteList(&b, admin.StatusFromTable(tb), ipvsadm.FmtRule); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestEditConfigIPv6 applies lvsadm lines with IPv6 services and servers
// to lvs.cf through lvsd's edit path (editConfig, then config.Validate as
// Apply does) and checks the table lvsd builds from the result, and that
// the result, formatted, is an lvs.cf that parses, validates and builds the
// same table. TestEditProperties draws IPv6 edits through the running
// daemon as well.
func TestEditConfigIPv6(t *testing.T) {
	const (
		web6  = "-A -t [2001:db8:26::10]:80 -s wlc -p 300 -M 64\n-a -t [2001:db8:26::10]:80 -r [fd00:11:12::1]:80 -m -w 1\n"
		mark6 = "-A -f 81 -6 -s rr\n-a -f 81 -6 -r [fd00:11:12::5]:0 -m -w 1\n"
	)
	tests := []struct {
		name  string
		lines []string
		want  string // lvsadm -S of the table after the edits
		err   error  // or the error of the last line
		msg   string // and a part of its message
	}{
		{"unchanged", nil, web6 + mark6, nil, ""},
		{"add a server with a port", []string{"-a -t [2001:db8:26::10]:80 -r [fd00:11:12::2]:8080 -w 2"},
			web6 + "-a -t [2001:db8:26::10]:80 -r [fd00:11:12::2]:8080 -m -w 2\n" + mark6, nil, ""},
		{"edit a server", []string{"-e -t [2001:db8:26::10]:80 -r fd00:11:12::1 -w 5 -x 100 -y 10"},
			"-A -t [2001:db8:26::10]:80 -s wlc -p 300 -M 64\n-a -t [2001:db8:26::10]:80 -r [fd00:11:12::1]:80 -m -w 5 -x 100 -y 10\n" + mark6, nil, ""},
		{"prefix length mask", []string{"-E -t [2001:db8:26::10]:80 -s rr -p 60 -M 48"},
			"-A -t [2001:db8:26::10]:80 -s rr -p 60 -M 48\n-a -t [2001:db8:26::10]:80 -r [fd00:11:12::1]:80 -m -w 1\n" + mark6, nil, ""},
		{"persistent without a mask is /128", []string{"-E -t [2001:db8:26::10]:80 -s wlc -p 120"},
			"-A -t [2001:db8:26::10]:80 -s wlc -p 120\n-a -t [2001:db8:26::10]:80 -r [fd00:11:12::1]:80 -m -w 1\n" + mark6, nil, ""},
		{"add a service and a server", []string{"-A -u [2001:db8:26::11]:53 -s rr", "-a -u [2001:db8:26::11]:53 -r fd00:11:12::3"},
			web6 + "-A -u [2001:db8:26::11]:53 -s rr\n-a -u [2001:db8:26::11]:53 -r [fd00:11:12::3]:53 -m -w 1\n" + mark6, nil, ""},
		{"a new persistent service", []string{"-A -t [2001:db8:26::12]:443 -p"},
			web6 + "-A -t [2001:db8:26::12]:443 -s wlc -p 300\n" + mark6, nil, ""},
		{"delete a service", []string{"-D -t [2001:db8:26::10]:80"}, mark6, nil, ""},
		{"fwmark -6 server", []string{"-a -f 81 -6 -r fd00:11:12::6 -w 3"},
			web6 + mark6 + "-a -f 81 -6 -r [fd00:11:12::6]:0 -m -w 3\n", nil, ""},
		{"fwmark -6 scheduler", []string{"-E -f 81 -6 -s sh -p 60 -M 56"},
			web6 + "-A -f 81 -6 -s sh -p 60 -M 56\n-a -f 81 -6 -r [fd00:11:12::5]:0 -m -w 1\n", nil, ""},
		{"fwmark without -6 is the IPv4 service", []string{"-d -f 81 -r fd00:11:12::5"}, "", ipvs.ErrNoService, ""},
		{"an IPv4 fwmark -6 does not exist", []string{"-E -f 80 -6 -s rr"}, "", ipvs.ErrNoService, ""},
		{"service exists", []string{"-A -t [2001:db8:26::10]:80"}, "", ipvs.ErrServiceExists, ""},
		{"server exists", []string{"-a -t [2001:db8:26::10]:80 -r [fd00:11:12::1]:80"}, "", ipvs.ErrDestExists, ""},
		{"IPv4 server behind an IPv6 VIP", []string{"-a -t [2001:db8:26::10]:80 -r 10.11.12.7"}, "", nil, "needs network = tunnel"},
		{"IPv6 server behind an IPv4 VIP", []string{"-A -t 192.168.26.10:80", "-a -t 192.168.26.10:80 -r fd00:11:12::7"}, "", nil,
			"needs network = tunnel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("lvs.cf", strings.NewReader(edit6Cf))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Validate(c); err != nil {
				t.Fatalf("the site does not validate: %v", err)
			}
			for i, line := range tt.lines {
				cmd, err := ipvsadm.ParseArgs(strings.Fields(line))
				if err != nil {
					t.Fatalf("lvsadm %s: %v", line, err)
				}
				next := cloneConfig(c)
				err = editConfig(next, cmd, "eth0")
				if err == nil {
					if _, verr := config.Validate(next); verr != nil {
						err = invalidEdit(verr)
					}
				}
				last := i == len(tt.lines)-1
				switch {
				case err != nil && last && (tt.err != nil || tt.msg != ""):
					if tt.err != nil && !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
						t.Fatalf("lvsadm %s = %v, want %v %q", line, err, tt.err, tt.msg)
					}
					return
				case err != nil:
					t.Fatalf("lvsadm %s: %v", line, err)
				}
				c = next
			}
			if tt.err != nil || tt.msg != "" {
				t.Fatalf("the edits succeeded, want %v %q", tt.err, tt.msg)
			}
			if got := edit6Table(t, c); got != tt.want {
				t.Fatalf("table after the edits:\n%s\nwant:\n%s", got, tt.want)
			}
			// What --save-config writes is an lvs.cf that builds the same.
			text := config.Format(c)
			again, err := config.Parse("lvs.cf", bytes.NewReader(text))
			if err == nil {
				_, err = config.Validate(again)
			}
			if err != nil {
				t.Fatalf("the edited lvs.cf does not load: %v\n%s", err, text)
			}
			if got := edit6Table(t, again); got != tt.want {
				t.Fatalf("the edited lvs.cf builds\n%s\nnot\n%s\n%s", got, tt.want, text)
			}
		})
	}
}
