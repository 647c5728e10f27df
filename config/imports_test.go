package config

import (
	goparser "go/parser"
	gotoken "go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// TestNoNetwork enforces DESIGN.md: config must not touch the network, so
// none of its files, tests included, may import package net (net/netip,
// which only holds address values, is fine).
func TestNoNetwork(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := gotoken.NewFileSet()
	for _, name := range files {
		f, err := goparser.ParseFile(fset, name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch path {
			case "net", "net/http", "net/rpc", "net/smtp", "os/exec", "syscall":
				t.Errorf("%s imports %s: config must not touch the network", name, path)
			}
		}
	}
}
