// Package platform holds Wharf's domain: the types a user and an operator manage
// (applications, environments, releases, cloudspaces) and the services that act on them.
//
// It must never import Echo or a HashiCorp SDK. Adapters that speak to Consul, Nomad,
// Vault, Docker or the registry live in platform/<dependency>/ and satisfy the small
// interfaces declared here, where they are used.
package platform
