package problem

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// codePattern is what an error code looks like: upper-case words joined
// by underscores.
var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// declaredCodes are the Code constants of codes.go, read from its source
// so that a constant added without a class is caught.
func declaredCodes(t *testing.T) map[string]Code {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Code{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				out[name.Name] = Code(v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no codes found in codes.go")
	}
	return out
}

func TestEveryCodeHasAClass(t *testing.T) {
	codes := declaredCodes(t)
	for name, c := range codes {
		if _, ok := classes[c]; !ok {
			t.Errorf("%s (%s) has no class", name, c)
		}
		if !codePattern.MatchString(string(c)) {
			t.Errorf("%s (%q) does not look like a code", name, c)
		}
	}
	if len(classes) != len(codes) {
		t.Errorf("%d classes for %d codes", len(classes), len(codes))
	}
	if CodeCampaignState.Class() != Conflict || CodeInsufficientFunds.Class() != InsufficientFunds || Code("NO_SUCH_CODE").Class() != Unavailable {
		t.Error("Code.Class does not read the table")
	}
}

// moduleRoot is the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// A code string is written once in the code base: every string constant
// that looks like a code is declared once, and the API's codes appear as
// literals only in codes.go (tests may spell them out).
func TestCodesAreDefinedOnce(t *testing.T) {
	root := moduleRoot(t)
	ours := map[string]bool{}
	for _, c := range declaredCodes(t) {
		ours[string(c)] = true
	}
	self, err := filepath.Abs("codes.go")
	if err != nil {
		t.Fatal(err)
	}
	constants := map[string][]string{} // code-like constant value → where declared
	literals := map[string][]string{}  // one of ours → where written outside codes.go
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GenDecl:
				if n.Tok != token.CONST {
					return true
				}
				for _, s := range n.Specs {
					vs := s.(*ast.ValueSpec)
					for i, v := range vs.Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if s, _ := strconv.Unquote(lit.Value); codePattern.MatchString(s) {
								constants[s] = append(constants[s], fmt.Sprintf("%s (%s)", rel, vs.Names[i].Name))
							}
						}
					}
				}
			case *ast.BasicLit:
				if n.Kind != token.STRING || path == self {
					return true
				}
				if s, _ := strconv.Unquote(n.Value); ours[s] {
					literals[s] = append(literals[s], fmt.Sprintf("%s:%d", rel, fset.Position(n.Pos()).Line))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, where := range constants {
		if len(where) > 1 {
			t.Errorf("%s is declared %d times: %s", s, len(where), strings.Join(where, ", "))
		}
	}
	for s, where := range literals {
		t.Errorf("%s is written outside domain/problem/codes.go: %s; use its constant", s, strings.Join(where, ", "))
	}
	if len(constants) < len(ours) {
		t.Fatalf("found %d code constants, fewer than the %d of codes.go: the scan is broken", len(constants), len(ours))
	}
}

type funds struct{ short int64 }

func (f *funds) Error() string { return fmt.Sprintf("short by %d", f.short) }
func (f *funds) Problem() *Error {
	return New(CodeInsufficientFunds, fmt.Sprintf("Short by %d.", f.short))
}

func TestAs(t *testing.T) {
	base := New(CodeNotFound, "Campaign not found.")
	cause := errors.New("no row")
	for _, tc := range []struct {
		name string
		err  error
		want *Error // nil: not a problem
	}{
		{"a problem is itself", base, base},
		{"a wrapped problem is found", fmt.Errorf("get campaign: %w", base), base},
		{"a plain error is not a problem", cause, nil},
		{"nil is not a problem", nil, nil},
		{"a carrier gives its problem", fmt.Errorf("accept: %w", &funds{short: 5}), New(CodeInsufficientFunds, "Short by 5.")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := As(tc.err)
			if ok != (tc.want != nil) {
				t.Fatalf("As(%v) ok = %v", tc.err, ok)
			}
			if ok && (got.Code != tc.want.Code || got.Message != tc.want.Message) {
				t.Fatalf("As(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestCopiesLeaveTheOriginal(t *testing.T) {
	base := New(CodeCampaignState, "the campaign has already finished")
	cause := errors.New("finished")
	p := base.Because(cause).WithMessage("Cannot pause a COMPLETED campaign.").WithRetryAfter(time.Second).
		WithFields(map[string]string{"x": "y"})
	if base.Message != "the campaign has already finished" || base.RetryAfter != 0 || base.Fields != nil || base.Unwrap() != nil {
		t.Fatalf("the original changed: %+v", base)
	}
	if !errors.Is(p, cause) || p.RetryAfter != time.Second || p.Class() != Conflict {
		t.Fatalf("copy: %+v", p)
	}
	if got := p.Error(); got != "CAMPAIGN_STATE_CONFLICT: Cannot pause a COMPLETED campaign.; x: y" {
		t.Fatalf("Error() = %q", got)
	}
	if f := InvalidFields(map[string]string{"name": "Field required"}); f.Class() != Invalid || f.Message != MsgInvalid {
		t.Fatalf("InvalidFields = %+v", f)
	}
}
