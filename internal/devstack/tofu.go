package devstack

import (
	"os"
	"path/filepath"
)

// OpenTofuVersion is the OpenTofu that scripts/deps.sh builds from the module proxy,
// for the Terraform provider's tests and examples.
const OpenTofuVersion = "1.12.6"

// TofuBinary is where scripts/deps.sh puts tofu: in dir, by default ~/.cache/wharf/bin.
func TofuBinary(dir string) string {
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "wharf", "bin")
	}
	return filepath.Join(dir, "tofu-"+OpenTofuVersion)
}
