// Package cli holds the command-line conventions the Ziett commands share
// (docs/cli.md): -h/--help prints the usage on stdout with exit code 0, a
// wrong command line exits 2, a failure 1; under --json an error is one
// JSON object on stderr.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes of every command (docs/cli.md).
const (
	ExitOK      = 0 // done; also --help
	ExitFailed  = 1 // the command ran and failed
	ExitUsage   = 2 // the command line is wrong: unknown command, flag or argument
	ExitDiffers = 3 // projections verify: a read model differs from a replay of the log
)

// ErrUsage marks a mistake in the command line.
var ErrUsage = errors.New("usage")

// UsageErr is a command-line mistake: exit code 2.
func UsageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, a...)...)
}

// ErrDiffers marks a verification that found differences.
var ErrDiffers = errors.New("differs")

// ExitCode maps a command's error to the process's exit code.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, ErrDiffers):
		return ExitDiffers
	}
	return ExitFailed
}

// Error is an error as printed under --json, on stderr.
type Error struct {
	Error struct {
		Kind     string `json:"kind"` // "usage", "differs" or "failed"
		Message  string `json:"message"`
		ExitCode int    `json:"exit_code"`
	} `json:"error"`
}

// Exit reports err, if it is one, on w (as the program prog) and returns
// the exit code the process ends with.
func Exit(w io.Writer, prog string, err error, asJSON bool) int {
	code := ExitCode(err)
	if code != ExitOK {
		ReportError(w, prog, err, asJSON)
	}
	return code
}

// ReportError prints err: one JSON object under --json, a line of text
// prefixed by the program's name otherwise.
func ReportError(w io.Writer, prog string, err error, asJSON bool) {
	code := ExitCode(err)
	if !asJSON {
		fmt.Fprintf(w, "%s: %v\n", prog, err)
		return
	}
	var e Error
	e.Error.Message = err.Error()
	e.Error.ExitCode = code
	switch code {
	case ExitUsage:
		e.Error.Kind = "usage"
	case ExitDiffers:
		e.Error.Kind = "differs"
	default:
		e.Error.Kind = "failed"
	}
	json.NewEncoder(w).Encode(e) //nolint:errcheck
}

// WantsJSON reports whether the command line asks for JSON output.
func WantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true" {
			return true
		}
	}
	return false
}

// IsHelp reports whether a is a request for help.
func IsHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// ParseFlags parses args into fs. -h/--help prints usage (and the flags)
// on stdout and returns flag.ErrHelp, which the command returns as is:
// exit code 0. A bad flag is a usage error.
func ParseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs, usage)
			return flag.ErrHelp
		}
		return UsageErr("%s: %v", fs.Name(), err)
	}
	return nil
}

func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprint(w, usage)
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", b.String())
	}
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
