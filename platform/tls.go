package platform

// TLSFiles locate what a client of an agent's HTTPS API (Nomad, Consul, Vault) needs:
// the authority that signed the agent's certificate and, where the agent requires mutual
// TLS (Nomad's verify_https_client, Consul's verify_incoming), a certificate and key of
// the client's own. The zero value trusts the system's authorities and presents no
// certificate.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
	// ServerName is the name the agent's certificate must hold when the address does
	// not (an agent reached by IP address): Nomad's "server.<region>.nomad", Consul's
	// "server.<datacenter>.consul".
	ServerName string
}

// Set reports whether any file or name is given.
func (f TLSFiles) Set() bool { return f != TLSFiles{} }
