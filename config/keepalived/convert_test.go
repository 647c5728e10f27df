package keepalived

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvs/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenCases are the keepalived.conf files of testdata, written from
// keepalived.conf(5) and its documented examples, with the options an
// administrator would pass.
var goldenCases = []struct {
	name string
	opts Options
}{
	{"nat", Options{}},
	{"dr", Options{Primary: netip.MustParseAddr("192.0.2.2"), Backup: netip.MustParseAddr("192.0.2.3")}},
	{"misc", Options{ConfigID: "lb-a"}},
}

// TestGolden converts each file, compares the lvs.cf with its golden file
// and checks it the way lvsd -t does: config.Parse (which validates) finds
// no error, and Format of what it read is what was written.
func TestGolden(t *testing.T) {
	for _, tt := range goldenCases {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join("testdata", tt.name+".conf")
			res, err := Import(name, tt.opts)
			if err != nil {
				t.Fatalf("Import(%s) error:\n%v", name, err)
			}
			got := Text(name, res)
			golden := filepath.Join("testdata", tt.name+".cf.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Text(Import(%s)) differs from %s (go test -update rewrites it):\n%s", name, golden, got)
			}
			c, err := config.Parse(golden, bytes.NewReader(got))
			if err != nil {
				t.Fatalf("config.Parse of the converted lvs.cf:\n%v", err)
			}
			if f, g := config.Format(c), config.Format(res.Config); !bytes.Equal(f, g) {
				t.Errorf("Format(Parse(lvs.cf)) = \n%s\nwant\n%s", f, g)
			}
		})
	}
}

// TestWarnings checks that what has no equivalent is reported at its line,
// for a sample of the keywords of each kind.
func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		file string
		opts Options
		want []string // substrings of "FILE:LINE: message" warnings
		not  []string // substrings no warning may hold
	}{
		{"global_defs", "nat", Options{}, []string{
			"testdata/nat.conf:8: global_defs: block notification_email has no equivalent",
			"testdata/nat.conf:14: global_defs: keyword router_id has no equivalent",
		}, nil},
		{"vrrp keywords", "nat", Options{}, []string{
			"testdata/nat.conf:27: vrrp_instance VI_EXT: keyword virtual_router_id has no equivalent",
		}, nil},
		{"checker timing", "nat", Options{}, []string{
			"testdata/nat.conf:68: virtual_server 203.0.113.10 80, real_server 10.11.12.1 80: TCP_CHECK: connect_timeout has no equivalent",
		}, nil},
		{"digest and retries", "dr", goldenCases[1].opts, []string{
			"testdata/dr.conf:42: virtual_server 192.0.2.100 80, real_server 192.0.2.11 80: HTTP_GET: url digest",
			"testdata/dr.conf:46: virtual_server 192.0.2.100 80, real_server 192.0.2.11 80: HTTP_GET: keyword retry has no equivalent",
		}, []string{
			"sorry_server port", // the sorry server's port is the virtual port
		}},
		{"TLS and DNS checks", "dr", goldenCases[1].opts, []string{
			"testdata/dr.conf:69: virtual_server 192.0.2.101 443, real_server 192.0.2.11 443: SSL_GET: lvs.cf has no TLS check",
			"testdata/dr.conf:75: virtual_server 192.0.2.101 443: real_server 192.0.2.12 443 has no checker",
			"testdata/dr.conf:85: virtual_server 192.0.2.100 53, real_server 192.0.2.21 53: DNS_CHECK has no equivalent",
		}, nil},
		{"included file and ranges", "misc", goldenCases[2].opts, []string{
			"testdata/conf.d/group.conf:5: virtual_server_group APP: address range 198.51.100.60-70 is not expanded",
			"testdata/conf.d/group.conf:15: virtual_server group APP, real_server 198.51.100.51 25: SMTP_CHECK: keyword helo_name has no equivalent",
			"testdata/misc.conf:35: virtual_server fwmark 80: inhibit_on_failure is set for 1 real servers and not for 1",
		}, nil},
		{"conditional lines without an id", "misc", Options{}, []string{
			"testdata/misc.conf:17: conditional line @lb-a: ignored",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := Import(filepath.Join("testdata", tt.file+".conf"), tt.opts)
			var got []string
			for _, w := range res.Warnings {
				got = append(got, w.Error())
			}
			all := strings.Join(got, "\n")
			for _, w := range tt.not {
				if strings.Contains(all, w) {
					t.Errorf("warnings hold %q; got:\n%s", w, all)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("warnings lack %q; got:\n%s", w, all)
				}
			}
		})
	}
}

// TestErrors checks that broken files are refused with FILE:LINE messages.
func TestErrors(t *testing.T) {
	vrrp := "vrrp_instance V {\n state MASTER\n unicast_src_ip 192.0.2.1\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n"
	tests := []struct {
		name string
		text string
		want string
	}{
		{"unclosed block", "virtual_server 192.0.2.10 80 {\n lb_algo rr\n", "k.conf:1: virtual_server: the block opened here is not closed"},
		{"stray brace", "}\n", `k.conf:1: unexpected "}"`},
		{"unterminated quote", "global_defs {\n router_id \"a\n}\n", "k.conf:2: unterminated quoted string"},
		{"bad scheduler", vrrp + "virtual_server 192.0.2.10 80 {\n lb_algo fastest\n}\n", `k.conf:9: virtual_server 192.0.2.10 80: lb_algo: expected a scheduler`},
		{"bad method", vrrp + "virtual_server 192.0.2.10 80 {\n lb_kind BRIDGE\n}\n", `k.conf:9: virtual_server 192.0.2.10 80: lb_kind: expected NAT, DR or TUN, got "BRIDGE"`},
		{"bad real server", vrrp + "virtual_server 192.0.2.10 80 {\n lb_kind DR\n real_server web1 80 {\n }\n}\n", `k.conf:10: virtual_server 192.0.2.10 80: real_server: expected an IP address, got "web1"`},
		{"bad weight", vrrp + "virtual_server 192.0.2.10 80 {\n lb_kind DR\n real_server 192.0.2.20 80 {\n weight -1\n }\n}\n", "k.conf:11: virtual_server 192.0.2.10 80, real_server 192.0.2.20 80: weight: expected 0..65535"},
		{"no router address", "vrrp_instance V {\n state MASTER\n}\n", "k.conf:1: vrrp_instance V: cannot tell the primary router's public address"},
		{"no vrrp", "virtual_server 192.0.2.10 80 {\n}\n", "k.conf:1: no vrrp_instance: lvs.cf needs this router's public address as primary"},
		{"nat without gateway", vrrp + "virtual_server 192.0.2.10 80 {\n real_server 10.9.9.9 80 {\n }\n}\n", "k.conf:8: lb_kind NAT: lvs.cf needs the real servers' gateway"},
		{"bad status code", vrrp + "virtual_server 192.0.2.10 80 {\n lb_kind DR\n real_server 192.0.2.20 80 {\n HTTP_GET {\n url {\n status_code 2xx\n }\n }\n }\n}\n", "k.conf:12: virtual_server 192.0.2.10 80, real_server 192.0.2.20 80: HTTP_GET: status_code: expected codes or ranges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert("k.conf", []byte(tt.text), Options{})
			if err == nil {
				t.Fatalf("Convert(%q) succeeded, want error %q", tt.text, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Convert error:\n%v\nwant it to contain %q", err, tt.want)
			}
			for _, e := range config.Errors(err) {
				if e.File == "" || e.Line == 0 {
					t.Errorf("error %q names no file and line", e)
				}
			}
		})
	}
}

// TestLexer checks the syntax of keepalived.conf(5) the converter relies
// on, through the statements Parse returns.
func TestLexer(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // the statements, one per line, blocks indented
	}{
		{"comments", "a 1 # c\nb ! c\n#x\n!y\nc#d\n", "a 1\nb\nc\n"},
		{"brace on next line", "global_defs\n{\n router_id x\n}\n", "global_defs {\n router_id x\n}\n"},
		{"one-line block", "url { path / } x 1\n", "url {\n path /\n}\nx 1\n"},
		{"quotes", "misc_path \"/bin/check 1 2\" 'a b'c\n", "misc_path [/bin/check 1 2] [a bc]\n"},
		{"escapes", `k "a\tb\x41\101\\\"" x` + "\n", "k a\tbAA\\\" x\n"},
		{"quoted comment characters", "auth_pass \"a#b!c\"\n", "auth_pass a#b!c\n"},
		{"parameters", "$P=10.0.0.1\n$Q=${P}/24\nvip ${Q} $P\n", "vip 10.0.0.1/24 10.0.0.1\n"},
		{"undefined parameter", "$P=1\nk $X ${Y}\n", "k $X ${Y}\n"},
		{"self-referencing parameter", "$P=${P}x\nk ${P}\n", "k ${P}" + strings.Repeat("x", maxSubstitutions) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, _, err := Parse("k.conf", []byte(tt.text), Files{}, "")
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.text, err)
			}
			if got := dump(stmts, ""); got != tt.want {
				t.Errorf("Parse(%q) =\n%s\nwant\n%s", tt.text, got, tt.want)
			}
		})
	}
}

// dump writes statements one per line; arguments holding blanks are
// bracketed so that word boundaries show.
func dump(stmts []*Stmt, indent string) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(indent + word(s.Key))
		for _, a := range s.Args {
			b.WriteString(" " + word(a))
		}
		if s.IsBlock() {
			b.WriteString(" {\n" + dump(s.Block, indent+" ") + indent + "}")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func word(s string) string {
	if strings.ContainsAny(s, " ") {
		return "[" + s + "]"
	}
	return s
}

// TestIncludeLoop checks that a file including itself stops with an error.
func TestIncludeLoop(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "k.conf")
	if err := os.WriteFile(name, []byte("include k.conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Import(name, Options{})
	if err == nil || !strings.Contains(err.Error(), "includes nested deeper than") {
		t.Errorf("Import(self-including file) error = %v, want the nesting error", err)
	}
}
