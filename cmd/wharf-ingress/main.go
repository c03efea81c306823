// Command wharf-ingress is Wharf's ingress controller: a reverse proxy whose routes come
// from Wharf's state and Consul's health. The proxy itself arrives with its own issue;
// for now the command only reports its version.
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
		fmt.Fprintln(os.Stderr, "wharf-ingress: the proxy is not built yet; only -version works")
		os.Exit(2)
	}
	fmt.Println("wharf-ingress", version)
}
