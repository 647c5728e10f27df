package web

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const editCf = `primary = 1.2.3.4
virtual web {
     active = 1
     port = 80
     server a {
         address = 10.0.0.1
         weight = 1
     }
}
virtual "two words" {
     port = 81
}
`

func TestEditText(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) (string, error)
		want string // a line that must be in the result, "-" prefix: must not
	}{
		{"set global new", func(s string) (string, error) { return setKeys(s, nil, []kv{{key: "backup", val: "1.2.3.5"}}) }, "backup = 1.2.3.5\nvirtual web"},
		{"set global existing", func(s string) (string, error) { return setKeys(s, nil, []kv{{key: "primary", val: "9.9.9.9"}}) }, "primary = 9.9.9.9\n"},
		{"delete global", func(s string) (string, error) { return setKeys(s, nil, []kv{{key: "primary", del: true}}) }, "-primary"},
		{"set virtual key before servers", func(s string) (string, error) {
			return setKeys(s, blockPath{"web"}, []kv{{key: "scheduler", val: "rr"}})
		}, "     port = 80\n     scheduler = rr\n     server a {"},
		{"set server key", func(s string) (string, error) {
			return setKeys(s, blockPath{"web", "a"}, []kv{{key: "weight", val: "5"}})
		}, "         weight = 5\n"},
		{"quoted virtual name", func(s string) (string, error) {
			return setKeys(s, blockPath{"two words"}, []kv{{key: "port", val: "82"}})
		}, "     port = 82\n"},
		{"add server", func(s string) (string, error) { return addBlock(s, blockPath{"web", "b"}) }, "     server b {\n     }\n}\nvirtual"},
		{"add virtual", func(s string) (string, error) { return addBlock(s, blockPath{"ftp"}) }, "}\nvirtual ftp {\n}\n"},
		{"delete server", func(s string) (string, error) { return deleteBlock(s, blockPath{"web", "a"}) }, "-10.0.0.1"},
		{"delete virtual", func(s string) (string, error) { return deleteBlock(s, blockPath{"web"}) }, "primary = 1.2.3.4\nvirtual \"two words\""},
		{"rename server", func(s string) (string, error) { return renameBlock(s, blockPath{"web", "a"}, "alpha") }, "     server alpha {"},
		{"bump serial", func(s string) (string, error) { return bumpSerial(bumpSerial(s)), nil }, "serial_no = 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f(editCf)
			if err != nil {
				t.Fatal(err)
			}
			if w, neg := strings.CutPrefix(tt.want, "-"); neg {
				if strings.Contains(got, w) {
					t.Errorf("result still has %q:\n%s", w, got)
				}
			} else if !strings.Contains(got, tt.want) {
				t.Errorf("result has no %q:\n%s", tt.want, got)
			}
		})
	}
	for name, f := range map[string]func(string) (string, error){
		"set in a missing block":    func(s string) (string, error) { return setKeys(s, blockPath{"nope"}, []kv{{key: "port", val: "1"}}) },
		"add an existing server":    func(s string) (string, error) { return addBlock(s, blockPath{"web", "a"}) },
		"delete a missing server":   func(s string) (string, error) { return deleteBlock(s, blockPath{"web", "zz"}) },
		"rename onto another block": func(s string) (string, error) { return renameBlock(s, blockPath{"web"}, "two words") },
	} {
		if _, err := f(editCf); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCheckTextPlacesErrors(t *testing.T) {
	text, _ := setKeys(editCf, blockPath{"web", "a"}, []kv{{key: "weight", val: "-4"}})
	find := func(ck check) *FieldError {
		for i, e := range ck.errs {
			if strings.Contains(e.Msg, "weight") {
				return &ck.errs[i]
			}
		}
		return nil
	}
	if e := find(checkText("lvs.cf", text, blockPath{"web", "a"})); e == nil || e.Field != "weight" || e.Line != 7 {
		t.Errorf("checkText(weight = -4) for server a = %+v; want an error on field weight, line 7", e)
	}
	if e := find(checkText("lvs.cf", text, blockPath{"web"})); e == nil || e.Field != "" {
		t.Errorf("checkText(weight = -4) for virtual web = %+v; want it off the form's fields", e)
	}
	ck := checkText("lvs.cf", text, blockPath{"web"})
	if len(ck.errs) == 0 || ck.errs[0].Field != "address" {
		t.Errorf("checkText: missing address of virtual web = %+v; want it on field address", ck.errs)
	}
}

// TestControlEvents: the panel's event stream is server-sent events of the
// daemon's event log, for logged-in sessions only.
func TestControlEvents(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Now = time.Now })
	srv := httptest.NewServer(h.s.Handler())
	defer srv.Close()
	cookie := h.login()
	resp, err := http.Get(srv.URL + "/control/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /control/events without a session = %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/control/events", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}
	h.b.events.Publish("RS 10.11.12.2:80 DOWN")
	sc := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		if sc.Text() == "data: RS 10.11.12.2:80 DOWN" {
			return
		}
	}
	t.Error("the event stream never sent the published line")
}
