// Command ziett-bench measures the service in one process, with an
// embedded broker and a throwaway PostgreSQL (BENCHMARKS.md). It is a
// program of its own so that the ziett binary that serves carries none of
// it.
//
//	ziett-bench [flags]         the load benchmark (make bench)
//	ziett-bench kannel [flags]  Kannel and Ziett over SMPP into one embedded SMSC (make bench-kannel)
package main

import (
	"os"

	"ziett.co/campaigns/cmd/internal/cli"
)

func main() { os.Exit(cli.Exit(os.Stderr, "ziett-bench", run(os.Args[1:]), false)) }

func run(args []string) error {
	if len(args) > 0 && args[0] == "kannel" {
		return runBenchKannel(args[1:])
	}
	return runBench(args)
}
