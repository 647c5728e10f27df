package health

import (
	"net/netip"
	"testing"
)

func TestSorry(t *testing.T) {
	s := NewSorry("web", netip.MustParseAddrPort("10.11.12.99:80"))
	const (
		on = "Virtual Server web: No real servers; activate sorry_server 10.11.12.99"
	)
	steps := []struct {
		up      int
		settled bool
		want    string
		msg     string
		in      bool
	}{
		{0, false, "", "", false}, // not every server checked yet
		{0, true, "add 1", on, true},
		{0, true, "", "", true},
		{2, true, "remove", "Virtual Server web: 2 real servers; deactivate sorry_server 10.11.12.99", false},
		{1, true, "", "", false},
		{0, true, "add 1", on, true},
		{1, false, "remove", "Virtual Server web: 1 real servers; deactivate sorry_server 10.11.12.99", false},
	}
	for i, st := range steps {
		as := s.Step(st.up, st.settled)
		if got := acts(as); got != st.want {
			t.Fatalf("step %d: Step(%d, %v) = [%s], want [%s]", i, st.up, st.settled, got, st.want)
		}
		if len(as) > 0 && as[0].Msg != st.msg {
			t.Errorf("step %d: message %q, want %q", i, as[0].Msg, st.msg)
		}
		if s.IsIn() != st.in {
			t.Errorf("step %d: IsIn() = %v, want %v", i, s.IsIn(), st.in)
		}
	}
}
