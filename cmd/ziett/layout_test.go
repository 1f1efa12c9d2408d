package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "ziett.co/campaigns/"

// Dependencies point inward (README's layout): the application core
// (commands/, projections/) depends on the domain and on libraries, never
// on an adapter; the domain depends on nothing of ours outside domain/.
// The Go toolchain's own view of the imports is the judge.
func TestDependenciesPointInward(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	rules := []struct {
		name      string
		of        func(string) bool
		forbidden func(string) bool
	}{
		{"commands/ and projections/ import no adapter",
			func(p string) bool { return under(p, "commands") || under(p, "projections") },
			func(d string) bool { return under(d, "adapters") || under(d, "cmd") || under(d, "schemas") }},
		{"domain/ imports nothing of ours outside domain/",
			func(p string) bool { return under(p, "domain") },
			func(d string) bool { return strings.HasPrefix(d, module) && !under(d, "domain") }},
	}
	checked := map[string]int{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var pkg struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&pkg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if !r.of(pkg.ImportPath) {
				continue
			}
			checked[r.name]++
			for _, d := range pkg.Deps {
				if r.forbidden(d) {
					t.Errorf("%s: %s depends on %s", r.name, strings.TrimPrefix(pkg.ImportPath, module), strings.TrimPrefix(d, module))
				}
			}
		}
	}
	for _, r := range rules {
		if checked[r.name] == 0 {
			t.Errorf("%s: no package checked", r.name)
		}
	}
}

func under(pkg, dir string) bool {
	return pkg == module+dir || strings.HasPrefix(pkg, module+dir+"/")
}
