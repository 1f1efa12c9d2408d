// Command ziett-chaos kills ziett processes with SIGKILL while it posts
// campaigns, then checks that nothing accepted was lost, doubled, stuck or
// miscounted (docs/chaos.md). It drives a built ziett binary from outside,
// as an operator's crash would; `make chaos` builds both.
//
//	ziett-chaos [-ziett bin/ziett] [-mode dev,components] [-kills N] [flags]
package main

import (
	"os"

	"ziett.co/campaigns/cmd/internal/cli"
)

func main() { os.Exit(cli.Exit(os.Stderr, "ziett-chaos", runChaos(os.Args[1:]), false)) }
