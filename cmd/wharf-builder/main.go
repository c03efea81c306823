// Command wharf-builder is the application builder run inside each build job: it fetches
// a codebase, builds its image against the Docker engine and pushes it to the
// cloudspace's registry. The build itself arrives with its own issue; for now the
// command only reports its version.
package main

import (
	"flag"
	"fmt"
	"os"
)

var version = "dev"

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if !*showVersion {
		fmt.Fprintln(os.Stderr, "wharf-builder: builds are not implemented yet; only -version works")
		os.Exit(2)
	}
	fmt.Println("wharf-builder", version)
}
