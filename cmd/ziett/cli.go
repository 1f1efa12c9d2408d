package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit codes of every command (docs/cli.md).
const (
	exitOK      = 0 // done; also --help
	exitFailed  = 1 // the command ran and failed
	exitUsage   = 2 // the command line is wrong: unknown command, flag or argument
	exitDiffers = 3 // projections verify: a read model differs from a replay of the log
)

// errUsage marks a mistake in the command line.
var errUsage = errors.New("usage")

// usageErr is a command-line mistake: exit code 2.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

// errDiffers marks a verification that found differences.
var errDiffers = errors.New("differs")

// exitCode maps a command's error to the process's exit code.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errDiffers):
		return exitDiffers
	}
	return exitFailed
}

// cliError is an error as printed under --json, on stderr.
type cliError struct {
	Error struct {
		Kind     string `json:"kind"` // "usage", "differs" or "failed"
		Message  string `json:"message"`
		ExitCode int    `json:"exit_code"`
	} `json:"error"`
}

// reportError prints err: one JSON object under --json, a line of text
// otherwise.
func reportError(w io.Writer, err error, asJSON bool) {
	code := exitCode(err)
	if !asJSON {
		fmt.Fprintln(w, "ziett:", err)
		return
	}
	var e cliError
	e.Error.Message = err.Error()
	e.Error.ExitCode = code
	switch code {
	case exitUsage:
		e.Error.Kind = "usage"
	case exitDiffers:
		e.Error.Kind = "differs"
	default:
		e.Error.Kind = "failed"
	}
	json.NewEncoder(w).Encode(e) //nolint:errcheck
}

// wantsJSON reports whether the command line asks for JSON output.
func wantsJSON(args []string) bool {
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

// isHelp reports whether a is a request for help.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// parseFlags parses args into fs. -h/--help prints usage (and the flags)
// on stdout and returns flag.ErrHelp, which the command returns as is:
// exit code 0. A bad flag is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs, usage)
			return flag.ErrHelp
		}
		return usageErr("%s: %v", fs.Name(), err)
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

// versionInfo is what --version prints: the module's version and the VCS
// revision the binary was built from, from its build information.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"vcs_revision,omitempty"`
	Time      string `json:"vcs_time,omitempty"`
	Modified  bool   `json:"vcs_modified"`
	GoVersion string `json:"go_version"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "ziett.co/campaigns", Version: "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Version, v.GoVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func printVersion(w io.Writer, asJSON bool) error {
	v := buildVersion()
	if asJSON {
		return json.NewEncoder(w).Encode(v)
	}
	rev := v.Revision
	if rev == "" {
		rev = "unknown revision"
	}
	if v.Modified {
		rev += " (modified)"
	}
	if v.Time != "" {
		rev += " " + v.Time
	}
	_, err := fmt.Fprintf(w, "ziett %s %s, %s, %s\n", v.Version, v.Module, rev, v.GoVersion)
	return err
}
