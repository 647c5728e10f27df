package keepalived

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"lvs/config"
)

// FuzzConvert feeds arbitrary text to the reader and the converter. It must
// not panic; every error and warning names a file and a line; and when the
// conversion succeeds and the lvs.cf it writes parses, Format round-trips.
func FuzzConvert(f *testing.F) {
	for _, tt := range goldenCases {
		data, err := os.ReadFile(filepath.Join("testdata", tt.name+".conf"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("virtual_server 1.2.3.4 80 { real_server 10.0.0.1 80 { HTTP_GET { url { path / } } } }\n"))
	f.Add([]byte("$A=${A}${A}\nk \"x\\c\" '${A}\n@x y {\n}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Convert("f.conf", data, Options{ConfigID: "x"})
		for _, e := range config.Errors(err) {
			if e.File != "f.conf" || e.Line < 1 {
				t.Errorf("error %q does not name f.conf and a line", e)
			}
		}
		for _, w := range res.Warnings {
			if w.File != "f.conf" || w.Line < 1 {
				t.Errorf("warning %q does not name f.conf and a line", w)
			}
		}
		if err != nil {
			return
		}
		text := Text("f.conf", res)
		c, err := config.Parse("lvs.cf", bytes.NewReader(text))
		if err != nil {
			return // a valid keepalived.conf may still be refused by lvs.cf's checks
		}
		if a, b := config.Format(c), config.Format(res.Config); !bytes.Equal(a, b) {
			t.Errorf("Format(Parse(Text)) =\n%s\nwant\n%s", a, b)
		}
	})
}
