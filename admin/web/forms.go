package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"lvs/config"
)

// field is one input of a panel. Key is the lvs.cf key it writes (Name when
// empty); two fields may share a key (address IP and device).
type field struct {
	Name    string
	Key     string
	Label   string
	Kind    string   // "text", "quoted" (a string lvs.cf writes in quotes), "select", "check"
	Options []string // for select; "" is "not set"
	Help    string
}

func (f field) key() string {
	if f.Key != "" {
		return f.Key
	}
	return f.Name
}

// form is a panel's fields with their values and the problems found.
type form struct {
	Fields   []field
	Values   map[string]string
	Errors   map[string][]string // by field name
	General  []string            // problems not on one of the fields
	Warnings []string
	Result   string // a "test now" result
}

// V returns the value of field name.
func (f *form) V(name string) string { return f.Values[name] }

// E returns the errors of field name.
func (f *form) E(name string) []string { return f.Errors[name] }

// Opts returns the choices of select field fd, with the field's current
// value added when it is not one of them (a load_monitor command, say), so
// that submitting the form does not silently change it.
func (f *form) Opts(fd field) []string {
	v := f.Values[fd.Name]
	if slices.Contains(fd.Options, v) {
		return fd.Options
	}
	return append(slices.Clip(fd.Options), v)
}

// HasErrors reports whether the form was refused.
func (f *form) HasErrors() bool { return len(f.Errors) > 0 || len(f.General) > 0 }

func newForm(fields []field) *form {
	return &form{Fields: fields, Values: map[string]string{}, Errors: map[string][]string{}}
}

// load fills the form from block p of text.
func (f *form) load(text string, p blockPath) {
	for _, fd := range f.Fields {
		v := unquote(keyValue(text, p, fd.key()))
		switch {
		case fd.key() == "address" && fd.Name == "device" || isRouterDevice(fd):
			_, v, _ = strings.Cut(v, " ")
		case fd.Name == "address" && len(p) == 1 || fd.Name == "nat_router" || fd.Name == "nat_router6":
			v, _, _ = strings.Cut(v, " ")
		}
		f.Values[fd.Name] = v
	}
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// netmasks are the choices of the netmask drop-downs, as Piranha offered.
var netmasks = func() []string {
	out := []string{""}
	for bits := 32; bits >= 8; bits-- {
		out = append(out, config.NetmaskBits(bits).String())
	}
	return out
}()

// prefixLens are the IPv6 prefix lengths offered (ipvsadm -M 64); a
// value typed into lvs.cf that is not among them is kept (Opts).
var prefixLens = []string{"", "128", "124", "120", "112", "96", "80", "64", "56", "48", "32"}

// masks are the choices of a mask that may be either: a dotted netmask
// for IPv4, a prefix length for IPv6.
var masks = append(slices.Clone(netmasks), prefixLens[1:]...)

// isRouterDevice reports whether fd is the device half of nat_router or
// nat_router6 ("IP DEV" in lvs.cf).
func isRouterDevice(fd field) bool {
	return fd.Name == fd.key()+"_device" && (fd.key() == "nat_router" || fd.key() == "nat_router6")
}

// hostPort formats an address and port as lvsadm and ipvsadm do:
// 192.168.26.10:80, or [2001:db8::10]:80 for IPv6.
func hostPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }

// The templates show addresses with ports through hostport.
func init() { funcs["hostport"] = hostPort }

// read takes the submitted values of the form's fields from r and turns
// them into the keys to write. Values that cannot be one lvs.cf token are
// refused here with a field error; everything else is left to config.Parse.
func (f *form) read(r *http.Request) []kv {
	for _, fd := range f.Fields {
		v := strings.TrimSpace(r.PostFormValue(fd.Name))
		if fd.Kind == "check" {
			v = "0"
			if r.PostFormValue(fd.Name) != "" {
				v = "1"
			}
		}
		f.Values[fd.Name] = v
	}
	for _, fd := range f.Fields {
		v := f.Values[fd.Name]
		if fd.Kind == "quoted" || fd.Kind == "check" || v == "" {
			continue
		}
		if strings.IndexFunc(v, func(c rune) bool {
			return c <= ' ' || c == '"' || c == '\'' || c == '#' || c == '{' || c == '}' || c == 0x7f
		}) >= 0 {
			f.Errors[fd.Name] = append(f.Errors[fd.Name], fmt.Sprintf("%s: expected one word without blanks, quotes, # or braces, got %q", fd.Label, v))
		}
	}
	if len(f.Errors) > 0 {
		return nil
	}
	var out []kv
	done := map[string]bool{}
	for _, fd := range f.Fields {
		k := fd.key()
		if done[k] || fd.Name == "name" {
			continue
		}
		done[k] = true
		v := f.Values[fd.Name]
		switch {
		case k == "address" && f.has("device"):
			v = joinPair(v, f.Values["device"])
		case k == "nat_router" || k == "nat_router6":
			v = joinPair(v, f.Values[k+"_device"])
		}
		switch {
		case v == "":
			out = append(out, kv{key: k, del: true})
		case fd.Kind == "quoted":
			if strings.ContainsAny(v, "\r\n") || strings.Contains(v, `"`) && strings.Contains(v, "'") {
				f.Errors[fd.Name] = append(f.Errors[fd.Name], fd.Label+": must be one line and may not hold both kinds of quote")
				continue
			}
			q := `"`
			if strings.Contains(v, `"`) {
				q = "'"
			}
			out = append(out, kv{key: k, val: q + v + q})
		default:
			out = append(out, kv{key: k, val: v})
		}
	}
	return out
}

func joinPair(a, b string) string {
	if b == "" {
		return a
	}
	if a == "" {
		return b
	}
	return a + " " + b
}

func (f *form) has(name string) bool {
	for _, fd := range f.Fields {
		if fd.Name == name {
			return true
		}
	}
	return false
}

// changed keeps the keys of kvs whose fields differ from the form's
// values before (a form loaded from the staged text), so that an edit
// replayed on a newer file (REBASE) changes only what the administrator
// changed.
func (f *form) changed(before *form, kvs []kv) []kv {
	diff := map[string]bool{}
	for _, fd := range f.Fields {
		if f.Values[fd.Name] != before.Values[fd.Name] {
			diff[fd.key()] = true
		}
	}
	var out []kv
	for _, e := range kvs {
		if diff[e.key] {
			out = append(out, e)
		}
	}
	return out
}

// place puts the check's errors and warnings on the form's fields.
func (f *form) place(ck check) {
	put := func(fe FieldError, general *[]string, byField map[string][]string) {
		placed := false
		for _, fd := range f.Fields { // every field of the key: address IP and device
			if fe.Field != "" && fd.key() == fe.Field {
				byField[fd.Name] = append(byField[fd.Name], fe.Msg)
				placed = true
			}
		}
		if !placed {
			*general = append(*general, fe.Msg)
		}
	}
	for _, e := range ck.errs {
		put(e, &f.General, f.Errors)
	}
	warn := map[string][]string{}
	for _, e := range ck.warnings {
		put(e, &f.Warnings, warn)
	}
	for _, fd := range f.Fields {
		for _, w := range warn[fd.Name] {
			if !slices.Contains(f.Warnings, w) {
				f.Warnings = append(f.Warnings, w)
			}
		}
	}
}

// validName checks a virtual or real server name typed into a form: one
// word that lvs.cf can hold without quotes.
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("a name is required")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.-", c)) {
			return fmt.Errorf("name %q: use letters, digits, '_', '.' and '-' only", name)
		}
	}
	return nil
}
