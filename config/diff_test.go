package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	old := mustParse(t, wrap("", "     server web2 {\n         address = 10.11.12.2\n         active = 1\n     }\n", "")+
		"virtual mail {\n     active = 1\n     address = 192.168.26.11 eth0:2\n     port = smtp\n     sorry_server = 10.11.12.99\n}\n")
	tests := []struct {
		name string
		edit func(string) string
		want func(Changes) string // "" when the change is as expected
	}{
		{"nothing", func(s string) string { return s }, func(c Changes) string {
			if !c.IsEmpty() {
				return "not empty"
			}
			return ""
		}},
		{"scheduler changed", func(s string) string {
			return strings.Replace(s, "     server web1 {", "     scheduler = rr\n     server web1 {", 1)
		}, func(c Changes) string {
			if len(c.Changed) != 1 || !reflect.DeepEqual(c.Changed[0].Fields, []string{"scheduler"}) || c.Changed[0].New.Name != "web" {
				return "want web changed in scheduler"
			}
			return ""
		}},
		{"weight changed and server removed", func(s string) string {
			s = strings.Replace(s, "         address = 10.11.12.1\n         active = 1\n", "         address = 10.11.12.1\n         active = 1\n         weight = 4\n", 1)
			return strings.Replace(s, "         address = 10.11.12.2\n         active = 1\n", "         address = 10.11.12.2\n         active = 0\n", 1)
		}, func(c Changes) string {
			if len(c.Changed) != 1 {
				return "want one changed virtual"
			}
			vc := c.Changed[0]
			if len(vc.ChangedServers) != 1 || !reflect.DeepEqual(vc.ChangedServers[0].Fields, []string{"weight"}) ||
				len(vc.RemovedServers) != 1 || vc.RemovedServers[0].Name != "web2" || len(vc.AddedServers) != 0 || len(vc.Fields) != 0 {
				return "want web1 weight changed and web2 removed"
			}
			return ""
		}},
		{"port change is remove plus add", func(s string) string {
			return strings.Replace(s, "     port = 25\n", "     port = 587\n", 1)
		}, func(c Changes) string {
			if len(c.Added) != 1 || len(c.Removed) != 1 || c.Added[0].Port != 587 || c.Removed[0].Port != 25 || len(c.Changed) != 0 {
				return "want mail removed on 25 and added on 587"
			}
			return ""
		}},
		{"inactivated virtual is removed", func(s string) string {
			return strings.Replace(s, "virtual mail {\n     active = 1", "virtual mail {\n     active = 0", 1)
		}, func(c Changes) string {
			if len(c.Removed) != 1 || c.Removed[0].Name != "mail" || len(c.Added)+len(c.Changed) != 0 {
				return "want mail removed"
			}
			return ""
		}},
		{"rename is a change, not a removal", func(s string) string {
			return strings.Replace(s, "virtual mail {", "virtual smtp {", 1)
		}, func(c Changes) string {
			if len(c.Changed) != 1 || !reflect.DeepEqual(c.Changed[0].Fields, []string{"name"}) {
				return "want mail changed in name"
			}
			return ""
		}},
		{"globals and formatting", func(s string) string {
			return "# a comment\nkeepalive = 3\n" + strings.ReplaceAll(s, "     ", "  ")
		}, func(c Changes) string {
			if !reflect.DeepEqual(c.Globals, []string{"keepalive"}) || len(c.Changed)+len(c.Added)+len(c.Removed) != 0 {
				return "want only keepalive"
			}
			return ""
		}},
		{"rules", func(s string) string {
			return s + "masquerade m {\n     source = 10.11.12.0/24\n}\n"
		}, func(c Changes) string {
			if !c.Rules || len(c.Globals) != 0 {
				return "want Rules"
			}
			return ""
		}},
	}
	text := string(Format(old))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := mustParse(t, tt.edit(text))
			ch := Diff(old, nc)
			if msg := tt.want(ch); msg != "" {
				t.Errorf("Diff: %s; got %+v", msg, describe(ch))
			}
		})
	}
}

func describe(c Changes) string {
	var b strings.Builder
	b.WriteString("globals=" + strings.Join(c.Globals, ","))
	for _, v := range c.Added {
		b.WriteString(" added=" + v.Name)
	}
	for _, v := range c.Removed {
		b.WriteString(" removed=" + v.Name)
	}
	for _, v := range c.Changed {
		b.WriteString(" changed=" + v.New.Name + "[" + strings.Join(v.Fields, ",") + "]")
		for _, s := range v.AddedServers {
			b.WriteString(" +" + s.Name)
		}
		for _, s := range v.RemovedServers {
			b.WriteString(" -" + s.Name)
		}
		for _, s := range v.ChangedServers {
			b.WriteString(" ~" + s.New.Name + "[" + strings.Join(s.Fields, ",") + "]")
		}
	}
	return b.String()
}

func TestDiffNil(t *testing.T) {
	c := mustParse(t, wrap("", "", ""))
	if ch := Diff(nil, c); len(ch.Added) != 1 {
		t.Errorf("Diff(nil, c).Added = %v, want the one virtual", ch.Added)
	}
	if ch := Diff(c, nil); len(ch.Removed) != 1 {
		t.Errorf("Diff(c, nil).Removed = %v, want the one virtual", ch.Removed)
	}
}

func TestVirtualKey(t *testing.T) {
	c := mustParse(t, wrap("", "     fwmark = 80\n     persistent = 60\n", ""))
	k := c.Virtuals[0].Key()
	if k.Address.IsValid() || k.FWMark != 80 || k.String() != "fwmark 80 tcp port 80" {
		t.Errorf("Key() = %v, want the mark without the VIP", k)
	}
}
