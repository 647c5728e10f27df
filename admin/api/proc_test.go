package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/admintest"
	"lvs/admin/ipvsadm"
)

type procSource struct {
	st    admin.Status
	conns []admin.ConnStatus
}

func (p procSource) Status() admin.Status { return p.st }

func (p procSource) Connections() []admin.ConnStatus { return p.conns }

func TestProcHandler(t *testing.T) {
	st := admintest.SampleStatus(t)
	want := st.Services
	st.Services = slices.Clone(st.Services)
	slices.Reverse(st.Services) // the handler sorts
	src := procSource{st: st, conns: []admin.ConnStatus{{Proto: "UDP", Client: netip.MustParseAddrPort("192.168.26.97:5353"),
		Virtual: netip.MustParseAddrPort("192.168.26.10:53"), Dest: netip.MustParseAddrPort("10.11.12.3:53"), State: "UDP", Expires: 299 * time.Second}}}
	srv := httptest.NewServer(ProcHandler(src))
	defer srv.Close()
	get := func(p string) (int, string) {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var sorted bytes.Buffer
	sortedSt := admin.Status{Services: want}
	sortedSt.Sort()
	if err := ipvsadm.WriteProcIPVS(&sorted, sortedSt); err != nil {
		t.Fatal(err)
	}
	if code, body := get(PathProcPrefix + "ip_vs"); code != 200 || body != sorted.String() {
		t.Errorf("GET ip_vs = %d\n%s\nwant, in ipvsadm's order:\n%s", code, body, sorted.String())
	}
	if code, body := get(PathProcPrefix + "ip_vs_stats"); code != 200 || !strings.Contains(body, "     5FC") {
		t.Errorf("GET ip_vs_stats = %d %q, want 1532 (5FC) connections", code, body)
	}
	if code, body := get(PathProcPrefix + "ip_vs_conn"); code != 200 || !strings.Contains(body, "UDP C0A81A61 14E9") {
		t.Errorf("GET ip_vs_conn = %d %q", code, body)
	}
	if code, _ := get(PathProcPrefix + "ip_vs_nothing"); code != http.StatusNotFound {
		t.Errorf("GET ip_vs_nothing = %d, want 404", code)
	}
}
