// Command terraform-provider-wharf is Wharf's Terraform (OpenTofu) provider. The engine
// starts it; it is not run by hand. See terraform/provider and README.md's "Terraform".
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/wharf-platform/wharf/terraform/provider"
)

// version is the provider's version; the Makefile's terraform-provider target installs
// it into a filesystem mirror under this version.
var version = "0.1.0"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers (TF_REATTACH_PROVIDERS)")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: provider.Address,
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
